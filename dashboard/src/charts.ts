// Spend over time, stacked by service: Chart.js, tree-shaken to the bar chart parts it uses.

import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip, type TooltipItem } from "chart.js";
import { exactMoney, moneyTick } from "./format";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily || "system-ui, sans-serif";
Chart.defaults.color = "#4a5562";
Chart.defaults.animation = false;

export interface Series {
  label: string;
  colour: string;
  values: number[];
}

export interface StackedBars {
  labels: string[]; // axis labels (short)
  titles: string[]; // tooltip titles (long)
  series: Series[];
  totals: number[]; // exact bucket totals, for the tooltip footer
}

let current: Chart | null = null;

export function drawSpend(canvas: HTMLCanvasElement, data: StackedBars): void {
  current?.destroy();
  current = new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: data.series.map((s) => ({
        label: s.label,
        data: s.values,
        backgroundColor: s.colour,
        borderColor: "#ffffff",
        borderWidth: { top: 1, bottom: 0, left: 0, right: 0 },
        borderSkipped: false,
        maxBarThickness: 36,
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: {
          stacked: true,
          grid: { display: false },
          ticks: { autoSkip: true, maxRotation: 0, autoSkipPadding: 12 },
        },
        y: {
          stacked: true,
          beginAtZero: true,
          border: { display: false },
          grid: { color: "#e6e9ee" },
          ticks: {
            maxTicksLimit: 6,
            callback: (v, _n, ticks) => moneyTick(Number(v), ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : 1),
          },
        },
      },
      plugins: {
        tooltip: {
          itemSort: (a, b) => (b.raw as number) - (a.raw as number),
          filter: (item) => (item.raw as number) > 0,
          callbacks: {
            title: (items: TooltipItem<"bar">[]) => data.titles[items[0]?.dataIndex ?? 0] ?? "",
            label: (item: TooltipItem<"bar">) => ` ${item.dataset.label}: ${exactMoney(item.raw as number)}`, // hover: exact
            footer: (items: TooltipItem<"bar">[]) => `Total: ${exactMoney(data.totals[items[0]?.dataIndex ?? 0] ?? 0)}`,
          },
        },
      },
    },
  });
}

export function clearSpend(): void {
  current?.destroy();
  current = null;
}
