// The build page's stage graph, drawn as SVG from the build's stages (plan order, each with
// its parent and kind): top-level stages and the children of `stages` and matrix cells from
// left to right, parallel branches and matrix cells stacked, nested stages and cells in
// labelled boxes. `kilnGraph.draw(container, stages, selected, onSelect)` redraws it.
'use strict';

const kilnGraph = (() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const GAP = 28, STACK = 10, FORK = 22, PAD = 8, HEAD = 26, CHAR = 7;

  function el(name, attrs, parent) {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  // The state class of a stage: PENDING, RUNNING, SKIPPED or its result.
  function stateOf(s) {
    if (s.state === 'pending') return 'PENDING';
    if (s.state === 'running') return 'RUNNING';
    const outcome = s.outcome || 'NOT_BUILT';
    return outcome.startsWith('SKIPPED') ? 'SKIPPED' : outcome;
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return '';
    if (ms >= 60000) return Math.floor(ms / 60000) + 'm ' + String(Math.floor(ms % 60000 / 1000)).padStart(2, '0') + 's';
    return (ms / 1000).toFixed(1) + 's';
  }

  function short(text, max) {
    return text.length > max ? text.slice(0, max - 1) + '…' : text;
  }

  // A clickable node: a circle and the stage's name, with its duration (or state) below
  // when `withTime`.
  function nodeMark(s, g, x, y, ctx, label, withTime) {
    const width = 30 + label.length * CHAR, height = withTime ? 40 : 22;
    const cls = stateOf(s);
    const node = el('g', {
      class: 'node ' + cls + (ctx.selected === s.node ? ' selected' : ''),
      'data-node': s.node, 'data-state': cls, 'data-name': s.name || '', tabindex: 0, role: 'button',
    }, g);
    el('title', {}, node).textContent = (s.path || []).join(' / ') + ' — ' + cls.toLowerCase();
    el('rect', { class: 'hit', x, y, width, height }, node);
    el('circle', { cx: x + 10, cy: y + 10, r: withTime ? 9 : 6 }, node);
    el('text', { class: 'name', x: x + 26, y: y + 14 }, node).textContent = label;
    if (withTime) {
      const time = s.state === 'running' ? 'running' : s.state === 'pending' ? '' : duration(s.duration_ms);
      el('text', { class: 'time', x: x + 26, y: y + 30 }, node).textContent = cls === 'SKIPPED' ? 'skipped' : time;
    }
    node.addEventListener('click', () => ctx.onSelect(s));
    node.addEventListener('keydown', (e) => { if (e.key === 'Enter') ctx.onSelect(s); });
  }

  function leaf(s, ctx) {
    const label = short(s.name || '', 22);
    return { w: 30 + label.length * CHAR, h: 40, py: 0, draw: (g, x, y) => nodeMark(s, g, x, y, ctx, label, true) };
  }

  function seq(blocks) {
    const py = Math.max(0, ...blocks.map((b) => b.py));
    let w = 0, h = 0;
    const at = blocks.map((b) => {
      const pos = { x: w, dy: py - b.py };
      w += b.w + GAP;
      h = Math.max(h, pos.dy + b.h);
      return pos;
    });
    w = Math.max(0, w - GAP);
    return {
      w, h, py, draw(g, x, y) {
        blocks.forEach((b, i) => {
          if (i > 0) {
            const from = x + at[i - 1].x + blocks[i - 1].w;
            el('line', { class: 'edge', x1: from + 4, y1: y + py + 10, x2: x + at[i].x - 4, y2: y + py + 10 }, g);
          }
          b.draw(g, x + at[i].x, y + at[i].dy);
        });
      },
    };
  }

  function par(blocks) {
    let h = 0;
    const tops = blocks.map((b) => { const t = h; h += b.h + STACK; return t; });
    h = Math.max(0, h - STACK);
    const inner = Math.max(0, ...blocks.map((b) => b.w));
    const py = blocks.length ? blocks[0].py : 0;
    return {
      w: inner + 2 * FORK, h, py, draw(g, x, y) {
        const mid = y + py + 10;
        blocks.forEach((b, i) => {
          const by = y + tops[i] + b.py + 10;
          el('path', { class: 'edge', d: `M${x} ${mid} C${x + FORK / 2} ${mid} ${x + FORK / 2} ${by} ${x + FORK} ${by}` }, g);
          const end = x + FORK + b.w;
          el('path', { class: 'edge', d: `M${end + 4} ${by} H${x + FORK + inner} C${x + FORK * 1.5 + inner} ${by} ${x + FORK * 1.5 + inner} ${mid} ${x + 2 * FORK + inner} ${mid}` }, g);
          b.draw(g, x + FORK, y + tops[i]);
        });
      },
    };
  }

  function group(s, label, inner, ctx) {
    const text = short(label, 60);
    const w = Math.max(inner.w + 2 * PAD, 30 + text.length * CHAR);
    return {
      w, h: inner.h + HEAD + PAD, py: HEAD + inner.py, draw(g, x, y) {
        const box = el('g', { class: 'group' }, g);
        el('rect', { x, y, width: w, height: inner.h + HEAD + PAD, rx: 6 }, box);
        nodeMark(s, box, x + 2, y + 2, ctx, text, false);
        inner.draw(g, x + PAD, y + HEAD);
      },
    };
  }

  function block(s, kids, ctx) {
    const children = (kids.get(s.node) || []).map((c) => block(c, kids, ctx));
    switch (s.kind) {
      case 'parallel':
      case 'matrix':
        return group(s, s.name || '', par(children), ctx);
      case 'cell':
        return group(s, (s.name || '').replace(/^Matrix - /, ''), seq(children), ctx);
      case 'stages':
        return group(s, s.name || '', seq(children), ctx);
      default:
        return children.length ? group(s, s.name || '', seq(children), ctx) : leaf(s, ctx);
    }
  }

  function draw(container, stages, selected, onSelect) {
    const ctx = { selected, onSelect };
    const kids = new Map();
    const roots = [];
    for (const s of stages) {
      if (s.parent === null || s.parent === undefined) roots.push(s);
      else { if (!kids.has(s.parent)) kids.set(s.parent, []); kids.get(s.parent).push(s); }
    }
    const whole = seq(roots.map((r) => block(r, kids, ctx)));
    const svg = el('svg', { width: whole.w + 8, height: whole.h + 8, viewBox: `-4 -4 ${whole.w + 8} ${whole.h + 8}` });
    whole.draw(svg, 0, 0);
    container.replaceChildren(svg);
    if (!stages.length) container.textContent = 'No stages (yet).';
  }

  return { draw, stateOf };
})();
