// Builds the dashboard into functions/api/dashboard/, the folder the API function serves at
// GET /dashboard and GET /dashboard/<file>. The route serves files one level deep, so every
// output file sits flat in that folder; everything (Chart.js included) is bundled, nothing is
// fetched from a CDN at run time, and no inline script is emitted (the route's CSP forbids it).
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const outDir = fileURLToPath(new URL("../functions/api/dashboard", import.meta.url));

// The page's canonical address is /dashboard (no trailing slash), whose directory is the API's
// root, so index.html must name its files `dashboard/<file>`: that resolves to /dashboard/<file>
// and keeps working under an API Gateway stage or base path (/prod/dashboard -> /prod/dashboard/<file>).
// Inside the bundle `base: "./"` keeps every other URL relative to the script itself.
function servedFromDashboardRoute(): Plugin {
  return {
    name: "aiusage-dashboard-urls",
    apply: "build",
    enforce: "post",
    transformIndexHtml: {
      order: "post",
      handler: (html) => html.replace(/(src|href)="\.\/(?!\/)/g, '$1="dashboard/'),
    },
  };
}

// `npm run dev` serves the page at / and forwards API calls to a running `aiusage serve`
// (AIUSAGE_API_URL, default http://127.0.0.1:3000 as `make run` starts it).
const api = process.env.AIUSAGE_API_URL ?? "http://127.0.0.1:3000";
const apiPaths = ["/ai_usage", "/budgets", "/alerts", "/reports", "/keys", "/prices"];

export default defineConfig({
  base: "./",
  plugins: [servedFromDashboardRoute()],
  server: { proxy: Object.fromEntries(apiPaths.map((path) => [path, { target: api, changeOrigin: true }])) },
  build: {
    outDir,
    emptyOutDir: true,
    assetsDir: "",
    assetsInlineLimit: 0,
    modulePreload: false,
    cssCodeSplit: false,
    sourcemap: false,
    target: "es2022",
    reportCompressedSize: true,
    rolldownOptions: {
      output: {
        entryFileNames: "app-[hash].js",
        chunkFileNames: "[name]-[hash].js",
        assetFileNames: "[name]-[hash][extname]",
      },
    },
  },
});
