// kiln's shared page script: API calls, the dashboard's filter and Build buttons, the
// "Build with parameters" form, and the dashboard's and job page's tables following the
// server's event stream.
'use strict';

const kiln = {
  // Calls the JSON API with the session cookie; resolves to {status, body}.
  async api(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: {} };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let json = null;
    try { json = await response.json(); } catch (_) { json = null; }
    return { status: response.status, body: json };
  },

  // Shows an API error in `el` (an element with the `hidden` attribute).
  showError(el, answer) {
    if (!el) return;
    el.textContent = (answer.body && answer.body.error) || ('request failed: HTTP ' + answer.status);
    el.hidden = false;
  },

  // Replaces the element with id `id` by the same element of a fresh copy of this page.
  async refreshRegions(ids) {
    const response = await fetch(location.pathname + location.search, {
      credentials: 'same-origin', headers: { accept: 'text/html' },
    });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
    for (const id of ids) {
      const fresh = doc.getElementById(id);
      const old = document.getElementById(id);
      if (fresh && old) old.replaceWith(document.adoptNode(fresh));
    }
    document.dispatchEvent(new CustomEvent('kiln:refreshed', { detail: ids }));
  },

  // Shows `text` in `el` (an element with the `hidden` attribute).
  showNotice(el, text) {
    if (!el) return;
    el.textContent = text;
    el.hidden = false;
  },

  // Triggers `job` with `params`; goes to the new build's page. A multibranch job scans its
  // repository instead (202, no build): `noticeEl` says so.
  async trigger(job, params, errorEl, noticeEl) {
    if (errorEl) errorEl.hidden = true;
    if (noticeEl) noticeEl.hidden = true;
    const answer = await kiln.api('POST', '/api/v1/jobs/' + encodeURIComponent(job) + '/builds', { params });
    if (answer.status === 201) {
      location.href = '/jobs/' + encodeURIComponent(job) + '/' + answer.body.number;
    } else if (answer.status === 202 && answer.body && answer.body.scan) {
      kiln.showNotice(noticeEl, 'Scan started: new and moved branches and requests get jobs and builds.');
    } else {
      kiln.showError(errorEl, answer);
    }
    return answer;
  },
};

// The values of the fields marked `data-param` inside `form`: checkboxes as true/false,
// empty password fields left out (the build gets the default).
kiln.formParams = function (form) {
  const params = {};
  for (const el of form.querySelectorAll('[data-param]')) {
    const name = el.dataset.param;
    if (el.dataset.kind === 'boolean') params[name] = el.checked ? 'true' : 'false';
    else if (el.dataset.kind === 'password' && el.value === '') continue;
    else params[name] = el.value;
  }
  return params;
};

document.addEventListener('DOMContentLoaded', () => {
  const filter = document.getElementById('filter');
  if (filter) {
    const apply = () => {
      const needle = filter.value.trim().toLowerCase();
      for (const row of document.querySelectorAll('#jobs tbody tr')) {
        row.hidden = needle !== '' && !row.dataset.job.toLowerCase().includes(needle);
      }
    };
    filter.addEventListener('input', apply);
    document.addEventListener('kiln:refreshed', apply);
  }

  document.addEventListener('click', (e) => {
    const button = e.target.closest('button.build');
    if (!button) return;
    const job = button.dataset.job;
    if (button.dataset.params === 'true') {
      location.href = '/jobs/' + encodeURIComponent(job) + '#build';
    } else {
      button.disabled = true;
      // A dashboard row's answers (a scan started, an error) show beside its button.
      let said = button.parentElement.querySelector('.said');
      if (!said) {
        said = document.createElement('span');
        said.className = 'said';
        said.setAttribute('role', 'status');
        said.hidden = true;
        button.after(' ', said);
      }
      said.className = 'said notice';
      const shown = kiln.trigger(job, {}, null, said).then((answer) => {
        if (answer.status !== 201 && answer.status !== 202) {
          said.className = 'said error';
          kiln.showError(said, answer);
        }
      });
      shown.finally(() => { button.disabled = false; });
    }
  });

  const form = document.getElementById('build-form');
  if (form) {
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const error = document.getElementById('form-error');
      const notice = document.getElementById('form-notice');
      kiln.trigger(form.dataset.job, kiln.formParams(form), error, notice);
    });
  }

  const live = document.getElementById('live');
  if (live && live.dataset.live) kiln.follow(live.dataset.live, live.dataset.job);
});

// A build's badge, as the server renders it.
kiln.badge = function (b) {
  const span = document.createElement('span');
  span.className = 'badge ' + b.state;
  span.dataset.state = b.state;
  span.textContent = b.label;
  return span;
};

kiln.buildUrl = (b) => '/jobs/' + encodeURIComponent(b.job) + '/' + b.number;

// The dashboard's row of `b.job` shows build `b` (when it is the newest) and its trend dot;
// false when the page has no row for the job.
kiln.showOnDashboard = function (table, b) {
  const row = [...table.querySelectorAll('tr[data-job]')].find((r) => r.dataset.job === b.job);
  if (!row) return false;
  const last = Number(row.dataset.last || 0);
  if (b.number >= last) {
    row.dataset.last = String(b.number);
    row.querySelector('td.status').replaceChildren(kiln.badge(b));
    const link = document.createElement('a');
    link.href = kiln.buildUrl(b);
    link.textContent = '#' + b.number;
    row.querySelector('td.last').replaceChildren(link);
    row.querySelector('td.started').textContent = b.started || '';
    row.querySelector('td.took').textContent = b.took;
  }
  const trend = row.querySelector('td.trend');
  let dot = trend.querySelector('a.dot[data-number="' + b.number + '"]');
  if (!dot) {
    if (b.number < last) return true;
    dot = document.createElement('a');
    dot.dataset.number = String(b.number);
    dot.href = kiln.buildUrl(b);
    trend.append(dot);
    while (trend.children.length > 10) trend.firstElementChild.remove();
  }
  dot.className = 'dot ' + b.state;
  dot.title = '#' + b.number + ' ' + b.label;
  return true;
};

// The job page's table shows build `b`, a new row first.
kiln.showOnJobPage = function (table, b) {
  let row = table.querySelector('tr[data-number="' + b.number + '"]');
  if (!row) {
    row = document.createElement('tr');
    row.dataset.number = String(b.number);
    for (const cls of ['num', 'status', 'cause', 'commit', 'wide branch', 'wide started', 'took']) {
      const td = document.createElement('td');
      td.className = cls;
      row.append(td);
    }
    const link = document.createElement('a');
    link.href = kiln.buildUrl(b);
    link.textContent = '#' + b.number;
    row.querySelector('td.num').append(link);
    const before = [...table.rows].find((r) => Number(r.dataset.number) < b.number);
    table.insertBefore(row, before || null);
    // The page lists the last hundred builds.
    while (table.rows.length > 100) table.lastElementChild.remove();
    const none = document.getElementById('no-builds');
    if (none) none.remove();
  }
  row.querySelector('td.status').replaceChildren(kiln.badge(b));
  row.querySelector('td.cause').textContent = b.cause;
  const code = document.createElement('code');
  code.textContent = b.commit || '';
  row.querySelector('td.commit').replaceChildren(code);
  row.querySelector('td.branch').textContent = b.branch || '';
  row.querySelector('td.started').textContent = b.started || '';
  row.querySelector('td.took').textContent = b.took;
  return true;
};

// Follows the server's event stream (`GET /api/v1/events`) into the table `#live`: `jobs`
// (the dashboard) or `builds` of `job` (the job page). Opening the stream, reopening it after
// a lost connection, a `resync` and a job the page does not know read the table once again;
// changes arriving meanwhile are applied again after it.
kiln.follow = function (kind, job) {
  const show = kind === 'jobs' ? kiln.showOnDashboard : kiln.showOnJobPage;
  let held = null;
  const reread = async () => {
    if (held) return;
    held = [];
    try {
      await kiln.refreshRegions(['live']);
    } finally {
      const again = held;
      held = null;
      kiln.rereads = (kiln.rereads || 0) + 1;
      for (const b of again) apply(b);
    }
  };
  const apply = (b) => {
    if (held) {
      held.push(b);
      return;
    }
    const table = document.getElementById('live');
    if (table && !show(table, b)) reread();
  };
  const url = '/api/v1/events' + (job ? '?job=' + encodeURIComponent(job) : '');
  const feed = new EventSource(url);
  for (const name of ['queued', 'started', 'stage', 'input', 'finished']) {
    feed.addEventListener(name, (e) => apply(JSON.parse(e.data)));
  }
  feed.addEventListener('resync', reread);
  feed.addEventListener('open', reread);
  kiln.feed = feed;
};
