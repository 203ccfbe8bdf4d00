() => {
  // Plotly cannot wrap a title to its chart: the server wraps titles for a half-page chart and puts
  // the unwrapped text in layout.meta.fit (components/figures/style.py). A chart drawn narrower, as
  // on a phone, gets them wrapped again here to its own width, with the top margin and title padding
  // to match; a legend below the axis gets the bottom margin it needs; heatmap numbers show only in
  // cells wide enough for them (elsewhere meta.fit.cell_text.narrow_text, if any). A chart narrower than
  // NARROW px takes the half-page type (meta.fit.compact), so a slide's large title does not fill a
  // phone, and every chart grows taller when its titles and legend would leave the plot less than
  // MIN_PLOT px. window.largeCharts(container, on) switches the charts inside `container` to the
  // presentation's large type (meta.fit.large) and back. Runs in the page (on load) and in the
  // exported report.
  if (window.__fitChartsInstalled) return;
  window.__fitChartsInstalled = true;
  const GLYPH = 0.56;  // average character width, in font sizes
  const PADDING = 40;  // the chart's own side margins, in px
  const NARROW = 560;  // px: below this a chart uses the half-page type
  const MIN_PLOT = 220;  // px: the least height left to the plot itself
  const TAG = /<[^>]*>/g;
  const ENTITY = /&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);/g;
  const BREAK = /<br\s*\/?>/i;
  const visible = (markup) => markup.replace(TAG, '').replace(ENTITY, 'x').length;
  const wrap = (markup, width) => markup.split(BREAK).map((paragraph) => {
    const lines = [];
    let line = '';
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      const candidate = line ? line + ' ' + word : word;
      if (line && visible(candidate) > width) { lines.push(line); line = word; } else { line = candidate; }
    }
    lines.push(line);
    return lines.join('<br>');
  }).join('<br>');
  const lineCount = (markup) => (markup ? markup.split(BREAK).length : 0);
  const read = (layout, path) => path.split('.').reduce((node, key) => (node == null ? node : node[key]), layout);

  function cellText(gd, meta) {
    // Heatmap numbers only where a cell is wide enough to hold them; true when a restyle was asked for.
    const trace = gd.data[0];
    const columns = trace && trace.z && trace.z[0] ? trace.z[0].length : 0;
    const cell = columns ? gd._fullLayout.xaxis._length / columns : 0;
    const narrow = cell < meta.cell_text.min_width;
    if (meta.cell_text.narrow_text) {  // shorter text in narrow cells, the full text in wide ones
      if (narrow === !!meta.cellsNarrow) return false;
      meta.cellsNarrow = narrow;
      window.Plotly.restyle(gd, {text: [narrow ? meta.cell_text.narrow_text : meta.cell_text.text]}, [0]);
      return true;
    }
    const wanted = narrow ? '' : meta.cell_text.template;
    if ((trace.texttemplate || '') === wanted) return false;
    window.Plotly.restyle(gd, {texttemplate: wanted}, [0]);
    return true;
  }

  function fit(gd) {
    const meta = gd.layout && gd.layout.meta && gd.layout.meta.fit;
    const width = gd._fullLayout && gd._fullLayout.width;
    if (!meta || !width || !window.Plotly) return;
    if (meta.compact && (width < NARROW) !== !!meta.compactNow) {  // the redraw runs fit again
      meta.compactNow = width < NARROW;  // kept with the figure: a new figure in the same div starts afresh
      applyStyle(gd, meta, meta.compactNow ? meta.compact : wideStyle(gd, meta));
      return;
    }
    if (meta.cell_text && cellText(gd, meta)) return;  // the restyle redraws, and fit runs again after it
    const update = {};
    if (meta.legend_below) {  // a legend pinned under the x axis: the bottom margin holds both
      const legend = gd.querySelector('g.legend');
      const needed = Math.ceil(meta.legend_below + (legend ? legend.getBoundingClientRect().height : 0));
      if (Math.abs(needed - gd._fullLayout.margin.b) > 3) update['margin.b'] = needed;
    }
    for (const [path, spec] of Object.entries(meta.texts)) {
      const room = Math.floor((width - PADDING) / (spec.size * GLYPH));
      const wrapped = wrap(spec.text, Math.max(12, Math.min(spec.chars, room)));
      if (read(gd.layout, path) !== wrapped) update[path] = wrapped;
    }
    // The title block: room for its lines, and padding that gives back plotly's lift of a long title.
    const text = (path) => (path in update ? update[path] : read(gd.layout, path));
    const lines = Math.max(lineCount(text('title.text')), 1);
    const subtitle = lineCount(text('title.subtitle.text'));
    const m = meta.margin;
    const top = m.base + (meta.reserve_top || 0) + m.title * lines + (subtitle ? m.gap + m.subtitle * subtitle : 0);
    const pad = m.pad + m.lift * (lines - 1);
    if (read(gd.layout, 'margin.t') !== top) update['margin.t'] = top;
    if (read(gd.layout, 'title.pad.t') !== pad) update['title.pad.t'] = pad;
    const bottom = 'margin.b' in update ? update['margin.b'] : gd._fullLayout.margin.b;
    if (gd._fullLayout.height - top - bottom < MIN_PLOT) update.height = top + bottom + MIN_PLOT;
    if (Object.keys(update).length) window.Plotly.relayout(gd, update);
  }

  function remember(gd, meta) {
    // The type a chart was drawn in, the first time it is restyled.
    if (meta.normal) return;
    const axes = Object.keys(meta.compact ? meta.compact.axes : {});  // null puts a size back to plotly's default
    meta.normal = {margin: meta.margin, font: read(gd._fullLayout, 'font.size'),
                   axes: Object.fromEntries(axes.map((path) => [path, read(gd.layout, path) ?? null])),
                   sizes: Object.fromEntries(Object.entries(meta.texts).map(([path, spec]) => [path, spec.size]))};
  }

  const wideStyle = (gd, meta) => (gd.__large ? meta.large : meta.normal);

  function applyStyle(gd, meta, style) {
    remember(gd, meta);
    meta.margin = style.margin;
    Object.entries(style.sizes).forEach(([path, size]) => { if (meta.texts[path]) meta.texts[path].size = size; });
    const update = {'font.size': style.font, 'legend.font.size': style.font,
                    'title.font.size': style.sizes['title.text'], ...(style.axes || {})};
    if ('title.subtitle.text' in style.sizes) update['title.subtitle.font.size'] = style.sizes['title.subtitle.text'];
    window.Plotly.relayout(gd, update);  // fit runs after the redraw and sets the title block
  }

  function setLarge(gd, on) {
    const meta = gd.layout && gd.layout.meta && gd.layout.meta.fit;
    if (!meta || !meta.large || !!gd.__large === on) return;
    remember(gd, meta);
    gd.__large = on;
    if (!meta.compactNow) applyStyle(gd, meta, wideStyle(gd, meta));
  }
  window.largeCharts = (container, on) => {
    container.querySelectorAll('.js-plotly-plot').forEach((gd) => setLarge(gd, on));
  };

  function hook(gd) {
    if (gd.__fitHooked || typeof gd.on !== 'function') return;
    gd.__fitHooked = true;
    gd.on('plotly_afterplot', () => fit(gd));
    fit(gd);
  }
  const scan = () => document.querySelectorAll('.js-plotly-plot').forEach(hook);
  new MutationObserver(scan).observe(document.body, {childList: true, subtree: true});
  scan();
}
