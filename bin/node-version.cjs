'use strict';
// Which Node.js raas needs, and the one line to say when this one is older. CommonJS in
// syntax any Node >= 14 parses (no ?. or ??), so that an old Node gets this line instead
// of a stack trace from a dependency that uses newer built-ins.
//
//   node bin/node-version.cjs             npm's preinstall: say so once when this Node is too old (exit 0)
//   node bin/node-version.cjs --check     exit 0 when this Node runs raas, 1 otherwise
//   node bin/node-version.cjs --check --strip-types
//                                         ... and runs .ts files directly (the tests, the bench)

var engines = require('../package.json').engines.node;
var match = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(engines);
if (!match) throw new Error('package.json engines.node must read ">=X.Y[.Z]", not ' + engines);
var NEEDED = [Number(match[1]), Number(match[2]), Number(match[3] || 0)];
var NEEDED_TEXT = NEEDED.join('.');

function parse(version) {
  return String(version).replace(/^v/, '').split('.').map(Number);
}

function atLeast(have, need) {
  for (var i = 0; i < need.length; i++) {
    if ((have[i] || 0) !== need[i]) return (have[i] || 0) > need[i];
  }
  return true;
}

/** The one line for a Node older than raas needs, or undefined when `version` will do. */
function tooOld(version, execPath) {
  if (atLeast(parse(version), NEEDED)) return undefined;
  return 'raas needs Node.js >= ' + NEEDED_TEXT + ', but this is Node.js ' + String(version).replace(/^v/, '') +
    (execPath ? ' (' + execPath + ')' : '') +
    '; get Node 24 with `npm install --prefix ~/.local/node24 node@24` and put ~/.local/node24/node_modules/.bin first on PATH, or with nvm, fnm or volta (`nvm install 24`)';
}

/** Node runs .ts files by stripping their types unflagged from 22.18 (22.x) and 23.6 on. */
function stripsTypes() {
  return Boolean(process.features && process.features.typescript);
}

module.exports = { NEEDED: NEEDED_TEXT, tooOld: tooOld, stripsTypes: stripsTypes };

if (require.main === module) {
  var args = process.argv.slice(2);
  var old = tooOld(process.versions.node, process.execPath);
  if (args.indexOf('--check') >= 0) {
    process.exitCode = !old && (args.indexOf('--strip-types') < 0 || stripsTypes()) ? 0 : 1;
  } else if (old) {
    // npm install goes on: its build (tsc) works on older Nodes, and npm run example / npm test fetch their own.
    process.stderr.write(old + ' (npm run example and npm test fetch it into .tools/ by themselves)\n');
  }
}
