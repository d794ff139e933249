/**
 * Entry point. Roles, configuration and the sandbox arrive with the runtime; until then this
 * prints what the product can do from the command line.
 */
const lines = [
  "alpaca-telegram-desk",
  "  npm test       run the test suite",
  "  npm run bench  print the benchmark figures",
];
process.stdout.write(`${lines.join("\n")}\n`);
