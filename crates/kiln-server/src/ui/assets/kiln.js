// kiln's shared page script: API calls, the dashboard's filter and Build buttons, the
// "Build with parameters" form, and regions that refresh themselves from the server.
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

  // Triggers `job` with `params`; goes to the new build's page.
  async trigger(job, params, errorEl) {
    const answer = await kiln.api('POST', '/api/v1/jobs/' + encodeURIComponent(job) + '/builds', { params });
    if (answer.status === 201) {
      location.href = '/jobs/' + encodeURIComponent(job) + '/' + answer.body.number;
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
      kiln.trigger(job, {}, null).finally(() => { button.disabled = false; });
    }
  });

  const form = document.getElementById('build-form');
  if (form) {
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const error = document.getElementById('form-error');
      error.hidden = true;
      kiln.trigger(form.dataset.job, kiln.formParams(form), error);
    });
  }

  // Regions marked `data-refresh="MS"` are fetched again every MS milliseconds while the
  // page is visible.
  for (const region of document.querySelectorAll('[data-refresh]')) {
    const every = Number(region.dataset.refresh) || 5000;
    const id = region.id;
    setInterval(() => {
      if (document.visibilityState === 'visible') kiln.refreshRegions([id]);
    }, every);
  }
});
