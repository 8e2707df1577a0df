#!/usr/bin/env node
'use strict';
/*
 * Driver for the ali-ons 3.12.0 RocketMQ client (npm), used by rocketq's interop tests.
 *
 * Output protocol (same as ../clients/cpp_client.py): one JSON object per line on stdout;
 * everything else (ali-ons' own warnings, our logs) on stderr.  The last stdout line of a run
 * has "done": true (or "done": false plus "error").  Exit status: 0 = ok, 1 = a send failed /
 * client error, 2 = usage error, 3 = consume timed out before --expect messages arrived.
 *
 *   node ons_client.js produce --namesrv 127.0.0.1:9876 --topic T --group G --count N
 *        [--tag TagA | --tag TagA,TagB,TagC (cycled by i)] [--keys-prefix k] [--prop name=value]...
 *   node ons_client.js consume --namesrv 127.0.0.1:9876 --topic T --group G
 *        [--expression "TagA || TagB"] [--expect N] [--timeout S] [--idle S] [--linger S]
 *        [--fail-times K] [--broadcast] [--from last|first] [--queue-events]
 *
 * Bodies written by `produce` are JSON: {"i": 7, "src": "ons", "props": {...}}.
 * ali-ons needs the topic to exist in the NameServer (no TBW102 fallback) and an `httpclient`
 * option even when `nameSrv` is given (a dummy object is passed; it is only used for onsAddr).
 */

const path = require('path');

// Keep stdout for JSON lines only: ali-ons' logger uses console.warn/console.error (stderr),
// and console.log is redirected to stderr in case a dependency uses it.
const out = process.stdout;
console.log = (...args) => console.error(...args);

function emit(obj) {
  out.write(JSON.stringify(obj) + '\n');
}

function log(msg) {
  process.stderr.write(`[ons_client ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

let ons;
try {
  ons = require(path.join(__dirname, 'node_modules', 'ali-ons'));
} catch (err) {
  log(`cannot load ali-ons (${err.message}); run tests/interop/setup_clients.py`);
  process.exit(1);
}
const { Producer, Consumer, Message } = ons;

// RocketMQ's own property names (MessageConst); everything else is a user property.
const SYSTEM_PROPERTIES = new Set([
  'KEYS', 'TAGS', 'WAIT', 'DELAY', 'RETRY_TOPIC', 'REAL_TOPIC', 'REAL_QID', 'TRAN_MSG', 'PGROUP',
  'MIN_OFFSET', 'MAX_OFFSET', 'BUYER_ID', 'ORIGIN_MESSAGE_ID', 'TRANSFER_FLAG', 'CORRECTION_FLAG',
  'MQ2_FLAG', 'RECONSUME_TIME', 'MSG_REGION', 'TRACE_ON', 'UNIQ_KEY', 'MAX_RECONSUME_TIMES',
  'CONSUME_START_TIME', 'CLUSTER', 'TRANSACTION_CHECK_TIMES', 'CHECK_IMMUNITY_TIME_IN_SECONDS',
  'INSTANCE_ID', 'SHARDING_KEY', '__STARTDELIVERTIME',
]);

// A stand-in for urllib: ali-ons asserts that `httpclient` is set, but only calls it to look up
// name servers from `onsAddr`, which we never use.
const dummyHttpclient = {
  async request(url) {
    throw new Error(`httpclient not available in interop tests (asked for ${url})`);
  },
};

// ------------------------------------------------------------------------------------------
// argv parsing: --name value, --flag, repeated --prop; all values strings unless noted

const SPECS = {
  common: { namesrv: '127.0.0.1:9876', topic: null, group: null },
  produce: { count: '10', start: '0', tag: null, 'keys-prefix': 'k', prop: [], 'send-timeout': '3000' },
  consume: {
    expression: '*', expect: '0', timeout: '60', idle: '0', linger: '1', 'fail-times': '0',
    broadcast: false, from: 'last', 'queue-events': false,
  },
};

function usage(msg) {
  process.stderr.write(`ons_client.js: ${msg}\n` +
    'usage: node ons_client.js produce|consume --topic T [--group G] [--namesrv A] [options]\n' +
    '  (see the comment at the top of this file)\n');
  process.exit(2);
}

function parseArgs(argv) {
  const cmd = argv[0];
  if (cmd !== 'produce' && cmd !== 'consume') usage(`unknown command ${JSON.stringify(cmd)}`);
  const spec = Object.assign({}, SPECS.common, SPECS[cmd]);
  const opts = {};
  for (const [ k, v ] of Object.entries(spec)) opts[k] = Array.isArray(v) ? [] : v;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) usage(`unexpected argument ${JSON.stringify(a)}`);
    let name = a.slice(2);
    let value;
    const eq = name.indexOf('=');
    if (eq > 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (!(name in spec)) usage(`unknown option --${name} for ${cmd}`);
    if (typeof spec[name] === 'boolean') {
      opts[name] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) usage(`--${name} needs a value`);
      value = argv[++i];
    }
    if (Array.isArray(spec[name])) opts[name].push(value);
    else opts[name] = value;
  }
  if (!opts.topic) usage('--topic is required');
  if (!opts.group) opts.group = cmd === 'produce' ? 'ons_producer_group' : 'ons_consumer_group';
  return { cmd, opts };
}

function num(opts, name) {
  const v = Number(opts[name]);
  if (!Number.isFinite(v)) usage(`--${name} must be a number`);
  return v;
}

// ------------------------------------------------------------------------------------------
// produce

function parseProps(items) {
  const props = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) usage(`--prop wants name=value, got ${JSON.stringify(item)}`);
    props[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return props;
}

async function produce(opts) {
  const count = num(opts, 'count');
  const props = parseProps(opts.prop);
  const tags = opts.tag ? opts.tag.split(',') : [];
  const producer = new Producer({
    httpclient: dummyHttpclient,
    nameSrv: opts.namesrv,
    producerGroup: opts.group,
    sendMsgTimeout: num(opts, 'send-timeout'),
  });
  producer.on('error', err => log(`producer error: ${err.name}: ${err.message}`));
  await producer.ready();
  emit({ event: 'started', group: opts.group, topic: opts.topic });
  const t0 = Date.now();
  let sent = 0;
  let failed = 0;
  const start = num(opts, 'start');
  for (let i = start; i < start + count; i++) {
    const body = { i, src: 'ons' };
    if (Object.keys(props).length) body.props = props;
    const tag = tags.length ? tags[i % tags.length] : null;
    const msg = tag ? new Message(opts.topic, tag, JSON.stringify(body))
      : new Message(opts.topic, JSON.stringify(body));
    // Message(topic, body) stores TAGS=null, which would be sent as the string "null"
    if (!tag) delete msg.properties.TAGS;
    if (opts['keys-prefix']) msg.keys = [ `${opts['keys-prefix']}${i}` ];
    for (const [ k, v ] of Object.entries(props)) msg.properties[k] = v;
    try {
      const r = await producer.send(msg);
      const ok = r.sendStatus === 'SEND_OK';
      if (ok) sent++; else failed++;
      emit({
        i, status: r.sendStatus, msg_id: r.msgId, offset_msg_id: r.msgId,
        queue_id: Number(r.messageQueue.queueId), queue_offset: r.queueOffset,
        broker: r.messageQueue.brokerName, tag,
      });
    } catch (err) {
      failed++;
      emit({ i, error: `${err.name}: ${err.message}`, code: err.code });
    }
  }
  await producer.close();
  emit({ done: true, sent, failed, seconds: (Date.now() - t0) / 1000 });
  return failed ? 1 : 0;
}

// ------------------------------------------------------------------------------------------
// consume

function record(msg) {
  const properties = {};
  const sysProperties = {};
  for (const [ k, v ] of Object.entries(msg.properties || {})) {
    if (v === null || v === undefined) continue;
    if (SYSTEM_PROPERTIES.has(k)) sysProperties[k] = v;
    else properties[k] = v;
  }
  return {
    msg_id: msg.msgId,
    topic: msg.topic,
    tags: msg.tags || null,
    keys: msg.keys || null,
    body: msg.body ? msg.body.toString('utf8') : '',
    properties,
    sys_properties: sysProperties,
    reconsume_times: msg.reconsumeTimes,
    queue_id: msg.queueId,
    queue_offset: msg.queueOffset,
    commit_log_offset: msg.commitLogOffset,
    born_timestamp: msg.bornTimestamp,
    store_timestamp: msg.storeTimestamp,
    born_host: msg.bornHost,
    store_host: msg.storeHost,
  };
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

async function consume(opts) {
  const expect = num(opts, 'expect');
  const timeout = num(opts, 'timeout') * 1000;
  const idle = num(opts, 'idle') * 1000;
  const linger = num(opts, 'linger') * 1000;
  const failTimes = num(opts, 'fail-times');
  const from = { last: 'CONSUME_FROM_LAST_OFFSET', first: 'CONSUME_FROM_FIRST_OFFSET' }[opts.from];
  if (!from) usage('--from must be last or first');

  const consumer = new Consumer({
    httpclient: dummyHttpclient,
    nameSrv: opts.namesrv,
    consumerGroup: opts.group,
    isBroadcast: opts.broadcast,
    consumeFromWhere: from,
  });
  consumer.on('error', err => log(`consumer error: ${err.name}: ${err.message}`));

  const attempts = new Map(); // identity -> deliveries
  const successes = new Map(); // identity -> acknowledged deliveries
  let deliveries = 0;
  let lastMessage = 0;
  let reached = false;
  // SIGTERM: stop like a service would, closing the consumer (offsets committed, group left).
  let stopRequested = false;
  process.on('SIGTERM', () => { stopRequested = true; });

  consumer.subscribe(opts.topic, opts.expression, async msg => {
    const rec = record(msg);
    const sp = rec.sys_properties;
    const identity = sp.UNIQ_KEY || sp.ORIGIN_MESSAGE_ID || rec.msg_id;
    const attempt = (attempts.get(identity) || 0) + 1;
    attempts.set(identity, attempt);
    deliveries++;
    lastMessage = Date.now();
    const fail = attempt <= failTimes;
    if (!fail) successes.set(identity, (successes.get(identity) || 0) + 1);
    rec.attempt = attempt;
    rec.status = fail ? 'RECONSUME_LATER' : 'CONSUME_SUCCESS';
    rec.duplicate = !fail && successes.get(identity) > 1;
    emit(rec);
    if (expect && successes.size >= expect) reached = true;
    // Fail by throwing, not by returning Consumer.ACTION_RETRY: ali-ons delivers %RETRY%
    // messages through a wrapper that drops the handler's return value, so ACTION_RETRY only
    // works on the first delivery.
    if (fail) throw new Error(`fail-times: failing delivery ${attempt} on purpose`);
  });

  await consumer.ready();
  emit({ event: 'started', group: opts.group, topic: opts.topic, expression: opts.expression,
    client_id: consumer.clientId });

  const t0 = Date.now();
  let lastQueues = '';
  let timedOut = false;
  for (;;) {
    if (opts['queue-events']) {
      const queues = [];
      for (const v of consumer.processQueueTable.values()) {
        if (v && v.messageQueue && v.messageQueue.topic === opts.topic) {
          queues.push(Number(v.messageQueue.queueId));
        }
      }
      queues.sort((a, b) => a - b);
      const key = queues.join(',');
      if (key !== lastQueues) {
        lastQueues = key;
        emit({ event: 'queues', topic: opts.topic, queues });
      }
    }
    if (reached || stopRequested) break;
    const now = Date.now();
    if (now - t0 >= timeout) {
      timedOut = expect > 0;
      break;
    }
    if (idle && lastMessage && now - lastMessage >= idle) {
      timedOut = expect > 0 && successes.size < expect;
      break;
    }
    await sleep(100);
  }
  if (reached && linger > 0) await sleep(linger);
  const received = successes.size;
  await consumer.close();
  const dupIds = [];
  let duplicates = 0;
  for (const [ id, n ] of successes) {
    if (n > 1) {
      duplicates += n - 1;
      dupIds.push(id);
    }
  }
  emit({
    done: true, received, deliveries, duplicates, duplicate_ids: dupIds.sort().slice(0, 50),
    expected: expect, timed_out: timedOut, seconds: (Date.now() - t0) / 1000,
  });
  return timedOut ? 3 : 0;
}

// ------------------------------------------------------------------------------------------

async function main() {
  const { cmd, opts } = parseArgs(process.argv.slice(2));
  try {
    return cmd === 'produce' ? await produce(opts) : await consume(opts);
  } catch (err) {
    log(`fatal: ${err.stack || err}`);
    emit({ done: false, error: `${err.name}: ${err.message}` });
    return 1;
  }
}

main().then(code => {
  // ali-ons leaves timers/sockets behind on some error paths; do not wait for them.
  out.write('', () => process.exit(code));
});
