// ANSI SGR colours to HTML: `kilnAnsi.render(text, state, into)` appends spans for `text`
// (one log line) to the element `into`, with classes for colours and styles; `state` carries
// the style across lines. Text goes in through textContent only (never as HTML). Other
// escape sequences (cursor movement, titles) are dropped.
'use strict';

const kilnAnsi = (() => {
  const ESC = /\x1b(?:\[([0-9;:?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;

  function fresh() {
    return { fg: null, bg: null, b: false, i: false, u: false, dim: false };
  }

  function apply(state, params) {
    const codes = params === '' ? [0] : params.split(/[;:]/).map((n) => Number(n) || 0);
    for (let k = 0; k < codes.length; k++) {
      const c = codes[k];
      if (c === 0) Object.assign(state, fresh());
      else if (c === 1) state.b = true;
      else if (c === 2) state.dim = true;
      else if (c === 3) state.i = true;
      else if (c === 4) state.u = true;
      else if (c === 22) { state.b = false; state.dim = false; }
      else if (c === 23) state.i = false;
      else if (c === 24) state.u = false;
      else if (c >= 30 && c <= 37) state.fg = c - 30;
      else if (c >= 90 && c <= 97) state.fg = c - 90 + 8;
      else if (c === 39) state.fg = null;
      else if (c >= 40 && c <= 47) state.bg = c - 40;
      else if (c >= 100 && c <= 107) state.bg = c - 100 + 8;
      else if (c === 49) state.bg = null;
      else if ((c === 38 || c === 48) && codes[k + 1] === 5) {
        // 256 colours: the first 16 map onto the palette, the rest are left plain.
        const n = codes[k + 2];
        if (n < 16) { if (c === 38) state.fg = n; else state.bg = n; }
        k += 2;
      } else if ((c === 38 || c === 48) && codes[k + 1] === 2) {
        k += 4;
      }
    }
  }

  function classes(state) {
    const out = [];
    if (state.fg !== null) out.push('fg-' + state.fg);
    if (state.bg !== null) out.push('bg-' + state.bg);
    if (state.b) out.push('b');
    if (state.i) out.push('i');
    if (state.u) out.push('u');
    if (state.dim) out.push('dim');
    return out.join(' ');
  }

  function render(text, state, into) {
    let last = 0;
    const put = (piece) => {
      if (piece === '') return;
      const cls = classes(state);
      if (cls === '') {
        into.appendChild(document.createTextNode(piece));
      } else {
        const span = document.createElement('span');
        span.className = cls;
        span.textContent = piece;
        into.appendChild(span);
      }
    };
    ESC.lastIndex = 0;
    let m;
    while ((m = ESC.exec(text)) !== null) {
      put(text.slice(last, m.index));
      if (m[2] === 'm') apply(state, m[1] || '');
      last = ESC.lastIndex;
    }
    put(text.slice(last));
  }

  return { fresh, render };
})();
