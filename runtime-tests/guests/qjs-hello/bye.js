// A second component of the same toolchain: its hidden `init` must not conflict.
export const farewell = {
  bye(name) {
    return `Bye, ${name}!`;
  },
};
