/*! datafly.js 1.0.0: the first-party tag of signal-edge, served by the node at /v1/datafly.js. */
// Plain ES2017, no dependency, no build step. Usage:
//   <script src="https://<node>/v1/datafly.js" data-key="<pipeline key>" async></script>
// Calls made before it loads go to a stub: window.datafly = window.datafly || [];
//   datafly.push(['track', 'Signed Up', {plan: 'pro'}]);
(function (w, d) {
  'use strict';
  var VERSION = '1.0.0';
  var prior = w.datafly;
  if (prior && prior.VERSION) return; // loaded twice

  var MAX_QUEUE = 500; // events kept (oldest dropped past it)
  var BATCH = 20; // events per request, and a flush as soon as this many wait
  var INTERVAL = 1000; // ms between flushes
  var BEACON_BYTES = 60000; // under the 64 KiB browsers allow in flight for beacons
  var BODY_BYTES = 60000; // a batch's size, under the 64 KiB a keepalive fetch may carry

  var script = d.currentScript || d.querySelector('script[data-key][src*="datafly.js"]');
  var key = (script && script.getAttribute('data-key')) || '';
  var origin = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  var endpoint = ((script && script.getAttribute('data-endpoint')) || origin).replace(/\/$/, '') + '/v1/batch';
  var storeKey = 'datafly:queue:' + key;
  var userKey = 'datafly:user:' + key;
  var consentKey = 'datafly:consent:' + key;

  var queue = load();
  var userId = read(userKey);
  var consent = parsed(read(consentKey)); // kept across pages, as the visitor's choice is
  var timer = null;
  var sending = false;
  var attempt = 0; // failed attempts in a row
  var waitUntil = 0; // no send before this time (back-off)
  var beaconed = {}; // messageIds this page already sent by beacon

  function load() {
    try {
      var saved = JSON.parse(w.localStorage.getItem(storeKey) || '[]');
      return Array.isArray(saved) ? saved.slice(-MAX_QUEUE) : [];
    } catch (e) {
      return [];
    }
  }

  function read(name) {
    try {
      return w.localStorage.getItem(name);
    } catch (e) {
      return null;
    }
  }

  // A stored object, or null.
  function parsed(text) {
    try {
      var v = JSON.parse(text || 'null');
      return v && typeof v === 'object' && !Array.isArray(v) ? v : null;
    } catch (e) {
      return null;
    }
  }

  function save() {
    try {
      if (queue.length) w.localStorage.setItem(storeKey, JSON.stringify(queue));
      else w.localStorage.removeItem(storeKey);
    } catch (e) {
      // Storage full or refused (private mode): the queue lives in memory only.
    }
  }

  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    var b = new Uint8Array(16);
    w.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function pageContext() {
    var canonical = d.querySelector('link[rel=canonical]');
    var url = canonical && canonical.href ? canonical.href : location.href;
    return {
      url: url.split('#')[0],
      path: location.pathname,
      referrer: d.referrer,
      title: d.title,
      search: location.search
    };
  }

  function obj(v) {
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  }

  function enqueue(event) {
    event.messageId = uuid();
    event.timestamp = new Date().toISOString();
    event.context = {
      page: pageContext(),
      locale: navigator.language,
      userAgent: navigator.userAgent,
      library: { name: 'datafly.js', version: VERSION }
    };
    if (consent) event.context.consent = consent;
    // The anonymousId is the node's `_dfid` cookie (sent with credentials); the userId is the
    // last identify's.
    if (userId && !event.userId) event.userId = userId;
    queue.push(event);
    if (queue.length > MAX_QUEUE) queue.splice(0, queue.length - MAX_QUEUE);
    save();
    schedule(queue.length >= BATCH ? 0 : INTERVAL);
  }

  function schedule(ms) {
    var delay = Math.max(ms, waitUntil - Date.now());
    if (timer !== null) {
      if (ms > 0) return;
      clearTimeout(timer);
    }
    timer = setTimeout(function () {
      timer = null;
      send();
    }, delay);
  }

  function backoff(retryAfter) {
    attempt += 1;
    var ms = Math.min(60000, 1000 * Math.pow(2, attempt - 1));
    ms = ms / 2 + Math.random() * ms / 2; // jitter: between half and all of it
    var asked = parseFloat(retryAfter);
    if (asked >= 0) ms = Math.max(ms, asked * 1000);
    waitUntil = Date.now() + ms;
    schedule(ms);
  }

  // Sends the oldest events (one batch); they stay queued until the node has answered 200.
  function send() {
    if (sending || !queue.length) return Promise.resolve();
    if (Date.now() < waitUntil) {
      schedule(0);
      return Promise.resolve();
    }
    sending = true;
    // At most BATCH events and BODY_BYTES: a browser refuses a keepalive fetch past 64 KiB, and
    // a batch refused so would be retried for ever. An event that large alone goes without
    // keepalive (it may not outlive the page; it stays queued until answered).
    var batch = [];
    var bytes = 0;
    for (var i = 0; i < queue.length && batch.length < BATCH; i++) {
      var size = sizeOf(queue[i]);
      if (batch.length && bytes + size > BODY_BYTES) break;
      batch.push(queue[i]);
      bytes += size;
    }
    var ids = batch.map(function (e) { return e.messageId; });
    var body = JSON.stringify({ batch: batch, sentAt: new Date().toISOString() });
    return fetch(endpoint, {
      method: 'POST',
      keepalive: bytes + 64 <= BODY_BYTES,
      credentials: 'include',
      headers: { 'Content-Type': 'application/json', Authorization: 'Basic ' + btoa(key + ':') },
      body: body
    }).then(function (r) {
      sending = false;
      if (r.status === 429 || r.status >= 500) {
        backoff(r.headers.get('Retry-After'));
        return;
      }
      // 200 (durable), or a refusal that a retry would not change (400, 401, 403, 413): done.
      if (!r.ok && w.console) w.console.warn('datafly: the node refused ' + batch.length + ' events (' + r.status + ')');
      attempt = 0;
      waitUntil = 0;
      remove(ids);
      if (queue.length) schedule(queue.length >= BATCH ? 0 : INTERVAL);
    }, function () {
      sending = false; // offline, DNS, CORS: retried
      backoff(null);
    });
  }

  // An event's bytes in a request body (its JSON and a comma).
  function sizeOf(e) {
    return new Blob([JSON.stringify(e)]).size + 1;
  }

  function remove(ids) {
    var gone = {};
    ids.forEach(function (id) { gone[id] = true; });
    queue = queue.filter(function (e) { return !gone[e.messageId]; });
    save();
  }

  // The page is going away: what is queued goes by sendBeacon (it cannot set headers: the key
  // goes in the body, as text/plain). The events stay queued: a beacon's answer is never known,
  // so the next page sends them again, and the node keeps each messageId once.
  // Browsers refuse beacons past 64 KiB in flight: chunks are cut by their bytes, and what
  // does not fit waits in the queue for the next page.
  function leave() {
    if (!queue.length || !navigator.sendBeacon) return;
    var chunk = [];
    var bytes = 0;
    var beacon = function () {
      var body = JSON.stringify({ batch: chunk, writeKey: key, sentAt: new Date().toISOString() });
      chunk.forEach(function (e) { beaconed[e.messageId] = true; });
      chunk = [];
      bytes = 0;
      return navigator.sendBeacon(endpoint, new Blob([body], { type: 'text/plain' }));
    };
    for (var i = 0; i < queue.length; i++) {
      if (beaconed[queue[i].messageId]) continue; // hidden, then pagehide: once is enough
      var size = sizeOf(queue[i]);
      if (chunk.length && (chunk.length >= BATCH || bytes + size > BEACON_BYTES) && !beacon()) return;
      chunk.push(queue[i]);
      bytes += size;
    }
    if (chunk.length) beacon();
  }

  var api = {
    VERSION: VERSION,
    page: function (name, properties) {
      if (typeof name === 'object' && name !== null) {
        properties = name;
        name = undefined;
      }
      var e = { type: 'page', properties: Object.assign(pageContext(), obj(properties)) };
      if (name) e.name = String(name);
      enqueue(e);
    },
    track: function (event, properties) {
      enqueue({ type: 'track', event: String(event), properties: obj(properties) });
    },
    identify: function (id, traits) {
      userId = String(id);
      try {
        w.localStorage.setItem(userKey, userId);
      } catch (e) {
        // memory only
      }
      enqueue({ type: 'identify', userId: userId, traits: obj(traits) });
    },
    group: function (groupId, traits) {
      enqueue({ type: 'group', groupId: String(groupId), traits: obj(traits) });
    },
    consent: function (categories) {
      consent = Object.assign({}, obj(categories));
      try {
        w.localStorage.setItem(consentKey, JSON.stringify(consent));
      } catch (e) {
        // memory only
      }
    },
    // Sends what is queued now, without the batching delay; a back-off (a 429's Retry-After,
    // a 5xx) still holds.
    flush: function () {
      if (timer !== null) {
        clearTimeout(timer);
        timer = null;
      }
      var rounds = [];
      var more = function () {
        var n = queue.length;
        return send().then(function () {
          if (queue.length && queue.length < n && !sending) return more();
        });
      };
      rounds.push(more());
      return Promise.all(rounds).then(function () {});
    }
  };

  w.addEventListener('pagehide', leave);
  d.addEventListener('visibilitychange', function () {
    if (d.visibilityState === 'hidden') leave();
  });

  w.datafly = api;
  // The stub's calls, in order: ['track', 'Signed Up', {...}] each.
  if (Array.isArray(prior)) {
    prior.forEach(function (call) {
      if (Array.isArray(call) && typeof api[call[0]] === 'function') api[call[0]].apply(api, call.slice(1));
    });
  }
  api.push = function (call) {
    if (Array.isArray(call) && typeof api[call[0]] === 'function') api[call[0]].apply(api, call.slice(1));
  };
  // Events a previous page left queued go now.
  if (queue.length) schedule(0);
})(window, document);
