// The build page: follows the build's event stream (stage states and times, input, result)
// to redraw the graph and header, shows the log (the whole log paged from its end and
// followed live, or one stage's), and runs the actions (cancel, rebuild, replay, input).
'use strict';

(() => {
  const PAGE = 256 * 1024;      // bytes read per log page
  const MAX_LINES = 5000;       // lines kept in the page; earlier ones are loaded on demand
  const encoder = new TextEncoder();

  let build = JSON.parse(document.getElementById('build-data').textContent);
  const base = '/api/v1/jobs/' + encodeURIComponent(build.job) + '/builds/' + build.number;
  const $ = (id) => document.getElementById(id);
  const logEl = $('log');
  let selected = null;

  // ---- header, graph, failure ------------------------------------------------------------
  function stateBadge() {
    if (build.result) return [build.result, build.result];
    return {
      queued: ['QUEUED', 'queued'], running: ['RUNNING', 'running'],
      waiting_for_input: ['WAITING', 'waiting for input'], finished: ['NOT_BUILT', 'finished'],
    }[build.status] || ['NOT_BUILT', build.status];
  }

  function drawHeader() {
    const [cls, label] = stateBadge();
    const badge = $('state').querySelector('.badge');
    if (badge) { badge.className = 'badge ' + cls; badge.dataset.state = cls; badge.textContent = label; }
    const cancel = $('cancel');
    if (cancel) cancel.hidden = build.status === 'finished';
    if (build.duration_ms !== null && $('took')) $('took').textContent = kilnGraphDuration(build.duration_ms);
  }

  function kilnGraphDuration(ms) {
    if (ms >= 60000) return Math.floor(ms / 60000) + 'm ' + String(Math.floor(ms % 60000 / 1000)).padStart(2, '0') + 's';
    return (ms / 1000).toFixed(1) + 's';
  }

  function drawGraph() {
    kilnGraph.draw($('graph'), build.stages, selected ? selected.node : null, selectStage);
  }

  // The failed stage's last lines under the failure banner: the stage of the failed step
  // (which the banner names), else the deepest failed stage, with its path.
  async function showFailedStage() {
    const holder = $('failed-stage');
    if (!holder || holder.dataset.done) return;
    const failed = build.stages.filter((s) => s.outcome === 'FAILURE' || s.outcome === 'UNSTABLE');
    const named = build.failed_step && build.stages.find((s) => s.node === build.failed_step.node);
    const leaf = named || failed.reverse().find((s) => !build.stages.some((c) => c.parent === s.node)) || failed[0];
    if (!leaf) return;
    holder.dataset.done = '1';
    const stepLink = document.querySelector('#failed-step a');
    if (stepLink) {
      stepLink.addEventListener('click', (e) => { e.preventDefault(); selectStage(leaf); });
    } else {
      const link = document.createElement('a');
      link.href = '#stage-' + leaf.node;
      link.textContent = leaf.path.join(' / ');
      link.addEventListener('click', (e) => { e.preventDefault(); selectStage(leaf); });
      holder.append('Failed in stage ', link);
    }
    const answer = await fetch(base + '/log/stages/' + leaf.node, { credentials: 'same-origin' });
    if (!answer.ok) return;
    const body = await answer.json();
    const lines = body.text.replace(/\n$/, '').split('\n').slice(-8);
    const pre = document.createElement('pre');
    pre.id = 'failed-tail';
    const state = kilnAnsi.fresh();
    lines.forEach((l, i) => { kilnAnsi.render(l, state, pre); if (i < lines.length - 1) pre.append('\n'); });
    holder.appendChild(pre);
  }

  // ---- the build's event stream ------------------------------------------------------------
  function followBuild() {
    let inputId = build.pending_input ? build.pending_input.id : null;
    let finished = build.status === 'finished';
    if (finished) return;
    const es = new EventSource(base + '/events');
    es.addEventListener('build', (e) => {
      build = JSON.parse(e.data);
      drawHeader();
      drawGraph();
      const nowInput = build.pending_input ? build.pending_input.id : null;
      if (nowInput !== inputId) { inputId = nowInput; kiln.refreshRegions(['input']); }
      if (build.replay && !document.querySelector('#facts a')) kiln.refreshRegions(['facts']);
      if (selected) {
        const s = build.stages.find((x) => x.node === selected.node);
        if (s && s.state !== selected.state) { selected = s; stageLog.more(); }
      }
      if (build.status === 'finished' && !finished) {
        finished = true;
        es.close();
        kiln.refreshRegions(['facts', 'banner', 'results']).then(showFailedStage);
      }
    });
  }

  // ---- log lines ----------------------------------------------------------------------------
  function lineEl(text, offset, state) {
    const div = document.createElement('div');
    div.className = 'line';
    if (offset !== null) {
      div.id = 'L' + offset;
      const a = document.createElement('a');
      a.className = 'ln';
      a.href = '#L' + offset;
      a.title = 'Link to this line';
      div.appendChild(a);
    }
    const span = document.createElement('span');
    kilnAnsi.render(text, state, span);
    div.appendChild(span);
    return div;
  }

  function note(text) {
    const div = document.createElement('div');
    div.className = 'line note';
    div.textContent = text;
    return div;
  }

  // Complete lines of `bytes` (which start at log offset `offset`): [{offset, text}], and the
  // length of the complete part.
  function splitBytes(bytes, offset) {
    const decoder = new TextDecoder();
    const lines = [];
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] === 10) {
        lines.push({ offset: offset + start, text: decoder.decode(bytes.subarray(start, i)) });
        start = i + 1;
      }
    }
    return { lines, used: start };
  }

  async function readLog(offset, limit) {
    const r = await fetch(base + '/log?offset=' + offset + '&limit=' + Math.max(1, limit), { credentials: 'same-origin' });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return {
      bytes: new Uint8Array(await r.arrayBuffer()),
      offset: Number(r.headers.get('x-log-offset')),
      end: Number(r.headers.get('x-log-end')),
    };
  }

  function following() { return $('follow').checked; }
  function scrollDown() { if (following()) logEl.scrollTop = logEl.scrollHeight; }

  // ---- the whole log --------------------------------------------------------------------------
  const whole = {
    first: 0, next: 0, partial: '', state: kilnAnsi.fresh(), es: null, generation: 0,

    async open() {
      const gen = ++this.generation;
      this.close();
      logEl.replaceChildren();
      this.state = kilnAnsi.fresh();
      this.partial = '';
      $('log-title').textContent = 'Log';
      $('whole-log').hidden = true;
      const head = await readLog(0, 1);
      const target = /^#L(\d+)$/.exec(location.hash);
      let start = target ? Math.min(Number(target[1]), head.end) : Math.max(0, head.end - PAGE);
      const page = await readLog(start, Math.min(PAGE, head.end - start));
      if (gen !== this.generation) return;
      let bytes = page.bytes;
      if (start > 0 && !target) {
        const nl = bytes.indexOf(10);
        bytes = nl < 0 ? bytes.subarray(bytes.length) : bytes.subarray(nl + 1);
        start += page.bytes.length - bytes.length;
      }
      const split = splitBytes(bytes, start);
      // At the end: its last MAX_LINES lines (Load earlier has the others).
      const lines = target ? split.lines : split.lines.slice(-MAX_LINES);
      const used = split.used;
      this.first = lines.length ? lines[0].offset : start;
      for (const l of lines) logEl.appendChild(lineEl(l.text, l.offset, this.state));
      this.next = start + used;
      $('earlier').hidden = this.first === 0;
      if (target) {
        const line = document.getElementById('L' + target[1]);
        if (line) { line.classList.add('hl'); $('follow').checked = false; line.scrollIntoView({ block: 'center' }); }
      } else {
        scrollDown();
      }
      if (start + bytes.length >= page.end || this.next >= head.end) this.stream(gen);
    },

    // Follows the log from `next` with the log's event stream.
    stream(gen) {
      const es = new EventSource(base + '/log/stream?offset=' + this.next);
      this.es = es;
      es.addEventListener('log', (e) => { if (gen === this.generation) this.take(JSON.parse(e.data), false); });
      es.addEventListener('end', (e) => {
        es.close();
        if (gen === this.generation) this.take(JSON.parse(e.data).text || '', true);
      });
      es.addEventListener('error', () => { if (es.readyState === EventSource.CLOSED) this.es = null; });
    },

    take(text, last) {
      const pieces = (this.partial + text).split('\n');
      this.partial = pieces.pop();
      if (last && this.partial !== '') { pieces.push(this.partial); this.partial = ''; }
      for (const line of pieces) {
        logEl.appendChild(lineEl(line, this.next, this.state));
        this.next += encoder.encode(line).length + 1;
      }
      this.trim();
      scrollDown();
    },

    trim() {
      let extra = logEl.children.length - MAX_LINES;
      if (extra <= 0) return;
      while (extra-- > 0 && logEl.firstChild) logEl.removeChild(logEl.firstChild);
      const firstLine = logEl.querySelector('.line[id]');
      if (firstLine) this.first = Number(firstLine.id.slice(1));
      $('earlier').hidden = false;
    },

    async earlier() {
      if (this.first === 0) return;
      let start = Math.max(0, this.first - PAGE);
      const page = await readLog(start, this.first - start);
      let bytes = page.bytes;
      if (start > 0) {
        const nl = bytes.indexOf(10);
        bytes = nl < 0 ? bytes.subarray(bytes.length) : bytes.subarray(nl + 1);
        start += page.bytes.length - bytes.length;
      }
      const lines = splitBytes(bytes, start).lines.slice(-MAX_LINES);
      if (lines.length) start = lines[0].offset;
      const state = kilnAnsi.fresh();
      const frag = document.createDocumentFragment();
      for (const l of lines) frag.appendChild(lineEl(l.text, l.offset, state));
      const height = logEl.scrollHeight;
      logEl.insertBefore(frag, logEl.firstChild);
      logEl.scrollTop += logEl.scrollHeight - height;
      this.first = start;
      $('earlier').hidden = this.first === 0;
    },

    close() {
      if (this.es) { this.es.close(); this.es = null; }
    },
  };

  // ---- timestamps (when kiln recorded each piece of the log) --------------------------------
  const times = {
    on: false, timer: null,

    async mark() {
      if (!this.on) return;
      const lines = [...logEl.querySelectorAll('.line[id]')].filter((l) => !l.dataset.time);
      if (!lines.length) return;
      const first = Number(lines[0].id.slice(1));
      const r = await fetch(base + '/log/times?offset=' + first, { credentials: 'same-origin' });
      if (!r.ok) return;
      const list = (await r.json()).times;
      let k = 0;
      for (const line of lines) {
        const at = Number(line.id.slice(1));
        while (k + 1 < list.length && list[k + 1][0] <= at) k++;
        if (list[k] && list[k][0] <= at) line.dataset.time = new Date(list[k][1]).toISOString().slice(11, 23);
      }
    },

    toggle(on) {
      this.on = on;
      logEl.classList.toggle('with-times', on);
      clearInterval(this.timer);
      if (on) { this.mark(); this.timer = setInterval(() => this.mark(), 2000); }
    },
  };

  // ---- one stage's log -------------------------------------------------------------------------
  const stageLog = {
    node: null, next: 0, state: kilnAnsi.fresh(), partial: '', timer: null, busy: false,

    open(stage) {
      whole.close();
      whole.generation++;
      this.node = stage.node;
      this.next = 0;
      this.partial = '';
      this.state = kilnAnsi.fresh();
      logEl.replaceChildren();
      $('log-title').textContent = 'Log of ' + stage.path.join(' / ');
      $('whole-log').hidden = false;
      $('earlier').hidden = true;
      clearInterval(this.timer);
      this.timer = setInterval(() => {
        const s = build.stages.find((x) => x.node === this.node);
        if (s && s.state === 'running') this.more();
      }, 1000);
      this.more();
    },

    async more() {
      if (this.node === null || this.busy) return;
      this.busy = true;
      try {
        for (let pages = 0; pages < 8; pages++) {
          const r = await fetch(base + '/log/stages/' + this.node + '?offset=' + this.next, { credentials: 'same-origin' });
          if (!r.ok) break;
          const body = await r.json();
          const pieces = (this.partial + body.text).split('\n');
          this.partial = pieces.pop();
          for (const line of pieces) logEl.appendChild(lineEl(line, null, this.state));
          this.next = body.next;
          this.trim();
          scrollDown();
          if (!body.more) break;
        }
        if (logEl.children.length === 0) logEl.appendChild(note('This stage has written nothing yet.'));
        else { const empty = logEl.querySelector('.note:not(.cut)'); if (empty && logEl.children.length > 1) empty.remove(); }
      } finally {
        this.busy = false;
      }
    },

    // At most MAX_LINES lines stay in the page: the earliest go (Raw has them all).
    trim() {
      let extra = logEl.children.length - MAX_LINES;
      if (extra <= 0) return;
      while (extra-- > 0 && logEl.firstChild) logEl.removeChild(logEl.firstChild);
      if (!logEl.querySelector('.note.cut')) {
        const cut = note('Earlier lines of this stage: see Raw.');
        cut.classList.add('cut');
        logEl.insertBefore(cut, logEl.firstChild);
      }
    },

    close() {
      clearInterval(this.timer);
      this.node = null;
    },
  };

  function selectStage(stage) {
    selected = stage;
    history.replaceState(null, '', '#stage-' + stage.node);
    drawGraph();
    stageLog.open(stage);
    $('log-panel').scrollIntoView({ block: 'start', behavior: 'smooth' });
  }

  // A line link followed within the page (or a stage's): highlight the line, reading the
  // whole log from there when it is not on the page.
  function followHash() {
    const line = /^#L(\d+)$/.exec(location.hash);
    if (line) {
      const el = document.getElementById('L' + line[1]);
      if (el && !selected) {
        for (const old of logEl.querySelectorAll('.line.hl')) old.classList.remove('hl');
        el.classList.add('hl');
        $('follow').checked = false;
        el.scrollIntoView({ block: 'center' });
      } else {
        selected = null;
        stageLog.close();
        drawGraph();
        whole.open();
      }
      return;
    }
    const stage = /^#stage-(\d+)$/.exec(location.hash);
    const s = stage && build.stages.find((x) => x.node === Number(stage[1]));
    if (s) selectStage(s);
  }

  function showWhole() {
    selected = null;
    stageLog.close();
    history.replaceState(null, '', location.pathname);
    drawGraph();
    whole.open();
  }

  // ---- actions ---------------------------------------------------------------------------------
  async function act(method, path, body, then) {
    const error = $('action-error');
    error.hidden = true;
    const answer = await kiln.api(method, base + path, body);
    if (answer.status >= 200 && answer.status < 300) then(answer);
    else kiln.showError(error, answer);
  }

  const goToBuild = (answer) => { location.href = '/jobs/' + encodeURIComponent(build.job) + '/' + answer.body.number; };

  document.addEventListener('click', (e) => {
    const action = e.target.closest('[data-action]');
    if (action) {
      const what = action.dataset.action;
      if (what === 'cancel') act('POST', '/cancel', undefined, () => { action.hidden = true; });
      if (what === 'rebuild') act('POST', '/rebuild', undefined, goToBuild);
      if (what === 'show-replay') { const d = $('replay'); if (d) { d.open = true; loadJenkinsfile(); } }
    }
    const answerButton = e.target.closest('button[data-answer=abort]');
    if (answerButton) {
      e.preventDefault();
      act('POST', '/input', { action: 'abort' }, () => kiln.refreshRegions(['input']));
    }
  });

  // Fills the replay form with the Jenkinsfile the build ran, once.
  async function loadJenkinsfile() {
    const area = $('jenkinsfile');
    if (!area || area.dataset.loaded) return;
    area.dataset.loaded = '1';
    const r = await fetch(base + '/jenkinsfile', { credentials: 'same-origin' });
    if (r.ok) {
      area.value = await r.text();
      area.disabled = false;
    } else {
      let message = 'HTTP ' + r.status;
      try { message = (await r.json()).error || message; } catch (_) { /* not JSON */ }
      const error = $('replay-error');
      error.textContent = 'The Jenkinsfile cannot be read: ' + message;
      error.hidden = false;
    }
  }

  document.addEventListener('submit', (e) => {
    if (e.target.id === 'input-form') {
      e.preventDefault();
      act('POST', '/input', { action: 'approve', params: kiln.formParams(e.target) }, () => kiln.refreshRegions(['input']));
    }
    if (e.target.id === 'replay-form') {
      e.preventDefault();
      act('POST', '/replay', { jenkinsfile: $('jenkinsfile').value }, goToBuild);
    }
  });

  document.addEventListener('DOMContentLoaded', () => {
    drawHeader();
    drawGraph();
    $('whole-log').addEventListener('click', showWhole);
    $('earlier').addEventListener('click', () => whole.earlier());
    $('follow').addEventListener('change', scrollDown);
    $('timestamps').addEventListener('change', (e) => times.toggle(e.target.checked));
    logEl.addEventListener('scroll', () => {
      const atBottom = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 8;
      if (!atBottom && $('follow').checked) $('follow').checked = false;
    });
    // Moving up the log (wheel, keys) stops following at once: a batch of lines arriving
    // before the scroll event would otherwise scroll back to the end.
    const up = () => { if (logEl.scrollHeight > logEl.clientHeight) $('follow').checked = false; };
    logEl.addEventListener('wheel', (e) => { if (e.deltaY < 0) up(); }, { passive: true });
    logEl.addEventListener('keydown', (e) => { if (['ArrowUp', 'PageUp', 'Home'].includes(e.key)) up(); });
    const stage = /^#stage-(\d+)$/.exec(location.hash);
    const s = stage && build.stages.find((x) => x.node === Number(stage[1]));
    if (s) selectStage(s); else whole.open();
    const replay = $('replay');
    if (replay) replay.addEventListener('toggle', () => { if (replay.open) loadJenkinsfile(); });
    if (location.hash === '#replay' && replay) { replay.open = true; loadJenkinsfile(); }
    window.addEventListener('hashchange', followHash);
    followBuild();
    showFailedStage();
  });
})();
