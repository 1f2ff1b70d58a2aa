// The page benchmark's in-page measurement instrumentation (bench/page/browser.py adds it as an init script to
// every page under test, so it runs before any of the page's own scripts). It is not part of any app.
//
// 1. window.__benchNet: WebSocket payload the page received (string length for text frames: our text is ASCII,
//    so about bytes) in total and per socket.io event name, a bounded sample of frames (`sampleCap` bytes,
//    0 = none), and the HTTP resources the page loaded.
// 2. window.__benchObserve(selector), called once the page is ready: one MutationObserver over the body.
//    `window.__benchArm(n0, endTail)` then starts a new answer measurement: the answer is the last `selector`
//    element once there are more than n0 of them; it is done when its text ends with ENDMARK (or, with
//    `endTail`, when its letters end with `endTail`). The Enter keydown that sends the prompt is `submitT`.
// 3. window.__benchLongTasks(): the page's long tasks ([epoch ms start, ms duration], PerformanceObserver 'longtask',
//    buffered); window.__benchScrollGap(): px between the bottom of the answer's scroll container
//    (`.q-scrollarea__container` in Rivulet, else the document) and its scrollTop + clientHeight.
(() => {
  const N = window.__benchNet = {wsBytes: 0, wsFrames: 0, byEvent: {}, samples: [], sampleBytes: 0,
                                 sampleCap: 0, resources: []};
  const Orig = window.WebSocket;
  if (Orig) {
    window.WebSocket = class extends Orig {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', (e) => {
          const d = e.data;
          let len = 0, name = 'binary';
          if (typeof d === 'string') {
            len = d.length;
            const m = /^\d+(?:\/[^,]*,)?\d*\["([^"]+)"/.exec(d.slice(0, 80));
            name = m ? m[1] : 'engine.io ' + d.slice(0, 1);
            if (N.sampleCap && N.sampleBytes < N.sampleCap) {
              N.samples.push([performance.timeOrigin + performance.now(), d.slice(0, 400000)]);
              N.sampleBytes += Math.min(len, 400000);
            }
          } else {
            len = d.byteLength !== undefined ? d.byteLength : (d.size || 0);
          }
          N.wsFrames++; N.wsBytes += len;
          const s = N.byEvent[name] || (N.byEvent[name] = {frames: 0, bytes: 0});
          s.frames++; s.bytes += len;
        });
      }
    };
  }
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        N.resources.push([e.startTime, e.responseEnd, e.decodedBodySize || 0, e.name.slice(0, 100)]);
      }
    }).observe({type: 'resource', buffered: true});
  } catch (err) {}
  const LT = window.__benchLong = [];
  const keep = (entries) => { for (const e of entries) LT.push([performance.timeOrigin + e.startTime, e.duration]); };
  let longObs = null;
  try {
    longObs = new PerformanceObserver((list) => keep(list.getEntries()));
    longObs.observe({type: 'longtask', buffered: true});
  } catch (err) { window.__benchLongError = String(err); }
  window.__benchLongTasks = () => { if (longObs) keep(longObs.takeRecords()); return LT; };
  window.__benchScrollGap = (selector) => {
    const all = document.querySelectorAll(selector || '.answer-body');
    let el = all.length ? all[all.length - 1] : null;
    while (el && !(el.classList && el.classList.contains('q-scrollarea__container'))) el = el.parentElement;
    const c = el || document.scrollingElement || document.documentElement;
    return {gap: c.scrollHeight - (c.scrollTop + c.clientHeight), scrollHeight: c.scrollHeight,
            container: el ? 'q-scrollarea__container' : 'document'};
  };

  window.__benchObserve = (selector) => {
    const now = () => performance.timeOrigin + performance.now();
    const B = window.__bench = {events: [], last: -1, submitT: null, doneT: null, finalLen: null, mutations: 0,
                                n0: 0, armed: false};
    const text = () => {
      const all = document.querySelectorAll(selector);
      return all.length > B.n0 ? (all[all.length - 1].textContent || '') : '';
    };
    const check = () => {
      if (!B.armed) return;
      B.mutations++;
      const t = text();
      const L = t.length;
      if (L !== B.last) {
        const ts = now();
        B.last = L;
        B.events.push([ts, L]);
        const ended = B.endTail ? t.replace(/[^A-Za-z]/g, '').endsWith(B.endTail) : /ENDMARK\s*$/.test(t);
        if (B.doneT === null && B.submitT !== null && ended) { B.doneT = ts; B.finalLen = L; }
      }
    };
    window.__benchArm = (n0, endTail) => {
      Object.assign(B, {events: [], last: -1, submitT: null, doneT: null, finalLen: null, mutations: 0, n0: n0,
                        armed: true, endTail: endTail || null});
      window.__benchNet.sampleCap = 0;
      check();
      return document.querySelectorAll(selector).length;
    };
    window.__benchCount = () => document.querySelectorAll(selector).length;
    window.__benchText = () => text();
    new MutationObserver(check).observe(document.body, {subtree: true, childList: true, characterData: true});
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && B.armed && B.submitT === null) B.submitT = now();
    }, true);
    return true;
  };
})();
