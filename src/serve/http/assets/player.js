// mist's browser player: plays one stream of `mist serve` in a <video> element, with no
// third-party code.
//
// - It asks the server what the stream is (/json_NAME.js, MistServer's stream info).
// - On-demand files play from their progressive MP4 (/NAME.mp4): the browser fetches and
//   seeks in it with HTTP byte ranges.
// - Live streams play through Media Source Extensions: /NAME.mp4 of a live stream is a
//   fragmented MP4 that never ends; its bytes are appended to a SourceBuffer as they arrive
//   (MSE parses boxes split across appends), with the codecs string the info gives. The
//   play position starts where the buffer starts (a live stream's times do not start at 0),
//   follows the live edge, and media far behind it is removed.
// - An offline stream is asked about again every few seconds; errors show under the video.
//
// Use: <div id="x"></div><script src="/player.js"></script>
//      <script>mistPlay("NAME", {target: document.getElementById("x")})</script>
// (MistServer's embed call; {host: ADDRESS} plays from the mist server at ADDRESS.)
// In a frame, the player posts its state to the parent window ({mist: {...}}).
'use strict';
(function () {
  const RETRY_MS = 3000; // an offline stream is asked about again this often
  const TICK_MS = 250; // how often the live position is checked and the state reported
  const LIVE_LAG_MAX_S = 4; // further behind the live edge than this: jump forward
  const LIVE_LAG_S = 1; // ... to this far behind it
  const KEEP_BEHIND_S = 30; // live media kept behind the play position

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function ranges(tr) {
    const out = [];
    for (let i = 0; i < tr.length; i++) out.push([tr.start(i), tr.end(i)]);
    return out;
  }

  function once(target, event) {
    return new Promise((resolve) => target.addEventListener(event, resolve, { once: true }));
  }

  function mistPlay(name, opts) {
    opts = opts || {};
    const target = opts.target || document.body;
    const base = opts.host ? opts.host.replace(/\/*$/, '/') : '';
    const video = document.createElement('video');
    video.controls = true;
    video.autoplay = true;
    video.muted = opts.muted !== false; // browsers only autoplay muted media
    video.playsInline = true;
    const status = document.createElement('div');
    status.className = 'mist-status';
    target.append(video, status);

    const state = { stream: name, status: 'loading', type: null, mime: null, error: null };

    function say(text, isError) {
      status.textContent = text;
      status.classList.toggle('error', !!isError);
    }
    function fail(text) {
      state.status = 'error';
      state.error = text;
      say(text, true);
    }
    function report() {
      const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
      state.currentTime = video.currentTime;
      state.frames = q ? q.totalVideoFrames : 0;
      state.buffered = ranges(video.buffered);
      state.paused = video.paused;
      if (window.parent !== window) window.parent.postMessage({ mist: state }, '*');
    }
    setInterval(report, TICK_MS);
    video.addEventListener('error', () => {
      const e = video.error;
      fail('media error ' + (e ? e.code + (e.message ? ': ' + e.message : '') : ''));
    });
    video.addEventListener('playing', () => {
      if (state.status !== 'error') {
        state.status = 'playing';
        say(state.type + ' \u00b7 ' + state.mime + (state.partial ? ' (' + state.partial + ')' : ''));
      }
    });

    async function info() {
      for (;;) {
        let i;
        try {
          const r = await fetch(base + 'json_' + encodeURIComponent(name) + '.js', { cache: 'no-store' });
          i = await r.json();
        } catch (e) {
          i = { error: 'cannot reach the server (' + e.message + ')' };
        }
        if (!i.error) return i;
        state.status = 'waiting';
        say(name + ': ' + i.error + '; trying again\u2026', true);
        await sleep(RETRY_MS);
      }
    }

    // The codecs strings of the first video and first audio track (the ones the server's
    // MP4 output carries).
    function codecs(i) {
      const tracks = Object.values(i.meta.tracks).sort((a, b) => a.idx - b.idx);
      const pick = (kind) => (tracks.find((t) => t.type === kind && t.codecstring) || {}).codecstring;
      return { video: pick('video'), audio: pick('audio') };
    }

    function mimeOf(list) {
      return (list[0].startsWith('avc1') ? 'video' : 'audio') + '/mp4; codecs="' + list.join(',') + '"';
    }

    function play() {
      const p = video.play();
      if (p) p.catch((e) => say('press play to start (' + e.message + ')'));
    }

    async function playLive(url) {
      if (!window.MediaSource) throw new Error('this browser has no Media Source Extensions');
      if (!MediaSource.isTypeSupported(state.mime)) throw new Error('this browser cannot play ' + state.mime);
      const ms = new MediaSource();
      video.src = URL.createObjectURL(ms);
      await once(ms, 'sourceopen');
      const sb = ms.addSourceBuffer(state.mime);
      const queue = [];
      let ended = false;
      sb.addEventListener('error', () => fail('the browser refused the stream (SourceBuffer error)'));
      // Appends one queued piece at a time (the queue's pieces joined into one).
      function pump() {
        if (sb.updating || ms.readyState !== 'open') return;
        if (!queue.length) {
          if (ended) ms.endOfStream();
          return;
        }
        const size = queue.reduce((n, b) => n + b.byteLength, 0);
        const joined = new Uint8Array(size);
        let at = 0;
        for (const b of queue) {
          joined.set(b, at);
          at += b.byteLength;
        }
        queue.length = 0;
        try {
          sb.appendBuffer(joined);
        } catch (e) {
          if (e.name === 'QuotaExceededError' && video.currentTime > 1) {
            queue.unshift(joined);
            sb.remove(0, video.currentTime - 1);
          } else {
            fail('cannot append: ' + e.message);
          }
        }
      }
      sb.addEventListener('updateend', pump);
      // Keeps the position inside what is buffered and near the live edge; trims the past.
      setInterval(() => {
        const b = video.buffered;
        if (!b.length) return;
        const t = video.currentTime;
        const end = b.end(b.length - 1);
        let inside = false;
        for (let i = 0; i < b.length; i++) inside = inside || (t >= b.start(i) && t < b.end(i));
        if (!inside) {
          // Not started yet (live times start where the publisher's stream was), or in a gap.
          const next = ranges(b).find(([s]) => s > t);
          if (next) video.currentTime = next[0];
        } else if (end - t > LIVE_LAG_MAX_S) {
          video.currentTime = end - LIVE_LAG_S;
        }
        if (!sb.updating && t - b.start(0) > KEEP_BEHIND_S) sb.remove(0, t - KEEP_BEHIND_S / 2);
      }, TICK_MS);
      play();
      const resp = await fetch(url, { cache: 'no-store' });
      if (!resp.ok) throw new Error(url + ': HTTP ' + resp.status);
      const reader = resp.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        queue.push(value);
        pump();
      }
      ended = true;
      pump();
      say('the stream ended');
    }

    async function start() {
      const i = await info();
      state.type = i.type;
      const mp4 = (i.source || []).find((s) => s.type === 'html5/video/mp4');
      if (!mp4) throw new Error('no MP4 output for this stream');
      let url = base + mp4.relurl;
      const c = codecs(i);
      const all = [c.video, c.audio].filter(Boolean);
      if (!all.length) throw new Error('no track a browser can play');
      state.mime = mimeOf(all);
      if (i.type !== 'live') {
        say(i.type + ' \u00b7 ' + state.mime + ' \u00b7 loading');
        video.src = url;
        play();
        return;
      }
      // MSE may take fewer codecs than <video> does (Chromium's takes no MP3 in MP4): then
      // the video alone (the server leaves the audio out), else the audio alone.
      const choices = [
        [all, ''],
        [[c.video], '?audio=none'],
        [[c.audio], '?video=none'],
      ].filter(([l]) => l.every(Boolean));
      const ok = window.MediaSource && choices.find(([l]) => MediaSource.isTypeSupported(mimeOf(l)));
      if (ok && ok[1]) {
        state.mime = mimeOf(ok[0]);
        url += ok[1];
        state.partial = 'this browser cannot play ' + mimeOf(all) + ' live; playing ' + state.mime;
      }
      say(i.type + ' \u00b7 ' + state.mime + ' \u00b7 loading');
      await playLive(url);
    }

    start().catch((e) => fail(e.message));
    return { video: video, state: state };
  }

  window.mistPlay = mistPlay;

  // On the page the server writes for a stream (/NAME.html), play that stream.
  const auto = document.querySelector('[data-mist-auto]');
  if (auto) {
    const file = location.pathname.split('/').pop();
    const name = decodeURIComponent(file.replace(/\.html$/, ''));
    document.title = name + ' \u2014 mist';
    mistPlay(name, { target: auto });
  }
})();
