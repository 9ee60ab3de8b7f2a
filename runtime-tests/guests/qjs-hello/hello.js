// A procedure in JavaScript on QuickJS (componentize-qjs).
export const greeter = {
  hello(name) {
    return `Hello, ${name}!`;
  },
};
