// The run as a picture: one bar per node over simulated time, coloured by drain phase, with FleetIQ's
// status changes marked on it, and below it the sessions held, completed and lost over time. Pure:
// data in, SVG text out.
import type { NodePhase, NodeTrack, SessionSample } from './metrics.js';
import { formatClock } from './report.js';

export interface TimelineInput {
  title: string;
  /** Lines under the title. */
  subtitle?: string[];
  nodes: NodeTrack[];
  samples: SessionSample[];
  /** Simulated ms: the chart's left edge (the load start) and right edge. */
  startAt: number;
  endAt: number;
  /** When the load stopped (a dashed line), if it did. */
  loadEndAt?: number;
}

export const PHASE_COLORS: Record<NodePhase, string> = {
  Active: '#4caf50',
  Cordoned: '#ffc107',
  Fenced: '#ff9800',
  Tainted: '#9c27b0',
  SpotEvicting: '#e53935',
  Deregistered: '#9e9e9e',
};

const STATUS_COLORS: Record<string, string> = {
  ACTIVE: '#2e7d32',
  DRAINING: '#f57f17',
  SPOT_TERMINATING: '#b71c1c',
};

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A tick step (ms) giving about `target` ticks over `spanMs`. */
export function tickStep(spanMs: number, target = 8): number {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200].map((s) => s * 1000);
  return steps.find((s) => spanMs / s <= target) ?? 14_400_000;
}

function niceMax(v: number): number {
  if (v <= 5) return 5;
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= v) return m * mag;
  return 10 * mag;
}

export function renderTimelineSvg(input: TimelineInput): string {
  const width = 1100;
  const left = 170;
  const right = 30;
  const top = 62 + 18 * (input.subtitle?.length ?? 0);
  const plotW = width - left - right;
  const span = Math.max(1, input.endAt - input.startAt);
  const x = (t: number) =>
    left + (Math.max(input.startAt, Math.min(input.endAt, t)) - input.startAt) * (plotW / span);
  // Many nodes make thin rows: the ones something happened to go first so they stay visible.
  const eventful = (n: NodeTrack) =>
    input.nodes.length > 40 && (n.segments.length > 1 || n.replacement) ? 0 : 1;
  const nodes = [...input.nodes].sort(
    (a, b) => eventful(a) - eventful(b) || a.joinedAt - b.joinedAt || a.name.localeCompare(b.name),
  );
  const rowH = Math.max(3, Math.min(20, Math.floor(600 / Math.max(1, nodes.length))));
  const gap = rowH >= 10 ? 4 : 1;
  const nodesH = nodes.length * (rowH + gap);
  const chartTop = top + nodesH + 50;
  const chartH = 170;
  const legendY = chartTop + chartH + 45;
  const height = legendY + 30;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">${esc(input.title)}</text>`);
  (input.subtitle ?? []).forEach((line, i) =>
    out.push(`<text x="${left}" y="${44 + 18 * i}" fill="#555">${esc(line)}</text>`),
  );

  // Time grid.
  const step = tickStep(span);
  for (let t = 0; t <= span; t += step) {
    const gx = x(input.startAt + t);
    out.push(`<line x1="${gx}" y1="${top - 8}" x2="${gx}" y2="${chartTop + chartH}" stroke="#eee"/>`);
    out.push(
      `<text x="${gx}" y="${top - 12}" text-anchor="middle" fill="#777" font-size="10">${formatClock(t)}</text>`,
    );
    out.push(
      `<text x="${gx}" y="${chartTop + chartH + 14}" text-anchor="middle" fill="#777" font-size="10">${formatClock(t)}</text>`,
    );
  }
  if (input.loadEndAt !== undefined && input.loadEndAt < input.endAt) {
    const lx = x(input.loadEndAt);
    out.push(
      `<line x1="${lx}" y1="${top - 8}" x2="${lx}" y2="${chartTop + chartH}" stroke="#333" stroke-dasharray="4 3"/>`,
    );
    out.push(`<text x="${lx + 4}" y="${chartTop - 8}" fill="#333" font-size="10">load stopped</text>`);
  }

  // Node rows.
  nodes.forEach((n, i) => {
    const y = top + i * (rowH + gap);
    if (rowH >= 10) {
      out.push(
        `<text x="${left - 8}" y="${y + rowH - 4}" text-anchor="end" font-size="${Math.min(11, rowH - 2)}" fill="${n.replacement ? '#1565c0' : '#222'}">${esc(n.name.split('.')[0]!)}${n.replacement ? ' (new)' : ''}</text>`,
      );
    }
    for (const seg of n.segments) {
      const x1 = x(seg.from);
      const x2 = x(seg.to ?? n.leftAt ?? input.endAt);
      if (x2 - x1 <= 0) continue;
      out.push(
        `<rect x="${x1.toFixed(1)}" y="${y}" width="${(x2 - x1).toFixed(1)}" height="${rowH}" fill="${PHASE_COLORS[seg.phase]}"><title>${esc(`${n.name} ${n.instanceId}: ${seg.phase} ${formatClock(seg.from - input.startAt)}–${formatClock((seg.to ?? n.leftAt ?? input.endAt) - input.startAt)}`)}</title></rect>`,
      );
    }
    for (const m of n.marks) {
      const mx = x(m.at);
      const c = STATUS_COLORS[m.status] ?? '#000';
      const s = Math.max(3, Math.min(6, rowH / 2));
      out.push(
        `<path d="M${(mx - s).toFixed(1)},${y - 1} L${(mx + s).toFixed(1)},${y - 1} L${mx.toFixed(1)},${(y - 1 + s * 1.4).toFixed(1)} Z" fill="${c}" stroke="#fff" stroke-width="0.8"><title>${esc(`FleetIQ ${m.status} at ${formatClock(m.at - input.startAt)}`)}</title></path>`,
      );
    }
    if (n.leftAt !== undefined && n.leftAt <= input.endAt) {
      const tx = x(n.leftAt);
      const s = Math.max(2, Math.min(5, rowH / 2 - 1));
      const cy = y + rowH / 2;
      out.push(
        `<path d="M${tx - s},${cy - s} L${tx + s},${cy + s} M${tx - s},${cy + s} L${tx + s},${cy - s}" stroke="#000" stroke-width="1.6"><title>instance terminated</title></path>`,
      );
    }
  });
  if (rowH < 10)
    out.push(
      `<text x="${left - 8}" y="${top + 12}" text-anchor="end" fill="#222">${nodes.length} nodes</text>`,
    );

  // Sessions chart.
  const samples = input.samples.filter((s) => s.at >= input.startAt && s.at <= input.endAt);
  const maxY = niceMax(
    Math.max(1, ...samples.map((s) => Math.max(s.active, s.completed, s.lost, s.endedBySpotNotice))),
  );
  const y = (v: number) => chartTop + chartH - (v / maxY) * chartH;
  out.push(`<text x="${left}" y="${chartTop - 10}" font-weight="bold">Sessions</text>`);
  out.push(
    `<rect x="${left}" y="${chartTop}" width="${plotW}" height="${chartH}" fill="none" stroke="#ccc"/>`,
  );
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const v = Math.round(maxY * f);
    out.push(
      `<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end" fill="#777" font-size="10">${v}</text>`,
    );
    if (f > 0 && f < 1)
      out.push(`<line x1="${left}" y1="${y(v)}" x2="${left + plotW}" y2="${y(v)}" stroke="#f0f0f0"/>`);
  }
  const series: Array<{ key: keyof SessionSample; color: string; label: string; width: number }> = [
    { key: 'active', color: '#1e88e5', label: 'held', width: 2 },
    { key: 'completed', color: '#43a047', label: 'completed (cumulative)', width: 2 },
    { key: 'endedBySpotNotice', color: '#fb8c00', label: 'ended by a Spot notice (cumulative)', width: 2 },
    { key: 'lost', color: '#e53935', label: 'lost (cumulative)', width: 2.5 },
  ];
  for (const s of series) {
    if (samples.length === 0) break;
    const pts = samples.map((p) => `${x(p.at).toFixed(1)},${y(p[s.key] as number).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="${s.width}"/>`);
  }

  // Legend.
  let lx = left;
  for (const [phase, color] of Object.entries(PHASE_COLORS)) {
    out.push(`<rect x="${lx}" y="${legendY - 10}" width="14" height="12" fill="${color}"/>`);
    out.push(`<text x="${lx + 18}" y="${legendY}">${phase}</text>`);
    lx += 26 + phase.length * 7;
  }
  lx += 10;
  for (const [status, color] of Object.entries(STATUS_COLORS)) {
    out.push(
      `<path d="M${lx},${legendY - 10} L${lx + 12},${legendY - 10} L${lx + 6},${legendY - 1} Z" fill="${color}"/>`,
    );
    out.push(`<text x="${lx + 16}" y="${legendY}">${status}</text>`);
    lx += 24 + status.length * 7;
  }
  out.push(`<text x="${lx + 4}" y="${legendY}">✕ terminated</text>`);
  const ly = legendY + 20;
  let sx = left;
  for (const s of series) {
    out.push(
      `<line x1="${sx}" y1="${ly - 4}" x2="${sx + 18}" y2="${ly - 4}" stroke="${s.color}" stroke-width="${s.width}"/>`,
    );
    out.push(`<text x="${sx + 22}" y="${ly}">${s.label}</text>`);
    sx += 40 + s.label.length * 7;
  }
  out.push('</svg>');
  return out.join('\n');
}
