// Drives the npm nacos client (2.6.3, HTTP v1 API) against the server at
// NACOS_ADDR (host:port) with NACOS_USERNAME / NACOS_PASSWORD: register,
// discover, subscribe, publish, listen, remove. Prints "step: NAME" as it
// goes and "done" at the end; exits 1 on the first failure. Leaves the
// instance 10.1.0.2:8080 of npm-svc and the config npm-final registered for
// the Go side to read. Run by TestNPMClient.
'use strict';

const { NacosNamingClient, NacosConfigClient } = require('nacos');

const addr = process.env.NACOS_ADDR;
const username = process.env.NACOS_USERNAME;
const password = process.env.NACOS_PASSWORD;
const limitMs = 120000; // a failure bound for a hung server, not a speed target

const quiet = { debug() {}, info() {}, warn() {}, error(...a) { console.error(...a); } };

function step(name) { console.log('step: ' + name); }

async function waitFor(what, cond) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise(r => setTimeout(r, 50));
  }
}

async function main() {
  const naming = new NacosNamingClient({ logger: quiet, serverList: addr, namespace: 'public', username, password });
  await naming.ready();
  step('naming ready');

  await naming.registerInstance('npm-svc', { ip: '10.1.0.1', port: 8080, metadata: { version: 'v1' } });
  await waitFor('npm-svc to list 10.1.0.1', async () => {
    const hosts = await naming.getAllInstances('npm-svc', 'DEFAULT_GROUP', '', false);
    return hosts.length === 1 && hosts[0].ip === '10.1.0.1' && hosts[0].metadata.version === 'v1';
  });
  step('registered and discovered');

  let seen = [];
  naming.subscribe('npm-svc', hosts => { seen = hosts.map(h => h.ip).sort(); });
  await naming.registerInstance('npm-svc', { ip: '10.1.0.2', port: 8080 });
  await waitFor('the subscription to see both instances', () => seen.join(',') === '10.1.0.1,10.1.0.2');
  step('subscribed and saw the change');

  await naming.deregisterInstance('npm-svc', { ip: '10.1.0.1', port: 8080 });
  await waitFor('the subscription to see the deregistration', () => seen.join(',') === '10.1.0.2');
  step('deregistered');

  const config = new NacosConfigClient({ serverAddr: addr, namespace: '', username, password });
  await config.ready();
  await config.publishSingle('npm.properties', 'DEFAULT_GROUP', 'v=1');
  const got = await config.getConfig('npm.properties', 'DEFAULT_GROUP');
  if (got !== 'v=1') throw new Error('getConfig = ' + JSON.stringify(got) + ', want v=1');
  step('published and read');

  let latest = null;
  config.subscribe({ dataId: 'npm.properties', group: 'DEFAULT_GROUP' }, content => { latest = content; });
  await waitFor('the listener to see v=1', () => latest === 'v=1');
  await config.publishSingle('npm.properties', 'DEFAULT_GROUP', 'v=2');
  await waitFor('the listener to see v=2', () => latest === 'v=2');
  step('listened and saw the change');

  await config.remove('npm.properties', 'DEFAULT_GROUP');
  const gone = await config.getConfig('npm.properties', 'DEFAULT_GROUP');
  if (gone !== null) throw new Error('getConfig after remove = ' + JSON.stringify(gone) + ', want null');
  await config.publishSingle('npm-final', 'DEFAULT_GROUP', 'from=npm');
  step('removed');

  config.close();
  // The naming client's beats keep the instance alive; the Go side reads it
  // while this process still runs, then closes stdin.
  console.log('done');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

main().catch(err => {
  console.error('FAIL: ' + (err && err.stack || err));
  process.exit(1);
});
