// Key-value and outbound HTTP from JavaScript: a component built by componentize-js
// (StarlingMonkey), importing the standard wasi:keyvalue interfaces; its fetch() goes out
// through wasi:http/outgoing-handler, which its default build always imports.
import { open } from 'wasi:keyvalue/store@0.2.0-draft2';
import { increment } from 'wasi:keyvalue/atomics@0.2.0-draft2';

export const counter = {
  bump(bucket, key) {
    return increment(open(bucket), key, 1n);
  },

  async fetchText(url) {
    try {
      const response = await fetch(url);
      return `${response.status} ${await response.text()}`;
    } catch (e) {
      // The err case of the result: a string.
      throw `${e}`;
    }
  },

  fail(message) {
    throw new Error(message);
  },
};
