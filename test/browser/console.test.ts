import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { startFederation, waitFor, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";

/** Where the pages' screenshots go (looked at by people; not compared). */
const SHOTS = fileURLToPath(new URL("../../../test-output/console/", import.meta.url));

/** Debian's Chromium (apt-get install chromium); Playwright's own download cannot work offline. */
function chromiumPath(): string {
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      return execFileSync("which", [name], { encoding: "utf8" }).trim();
    } catch {
      /* next */
    }
  }
  throw new Error("no chromium on PATH: apt-get install -y chromium fonts-noto-cjk");
}

const ZH_TITLES: Record<string, string> = {
  overview: "联邦概览",
  products: "产品",
  devices: "设备",
  distribution: "设备分发",
  grants: "设备授权",
  pool: "公共产品池",
  audit: "审计日志",
};

/*
 * The web console in a real browser (Chromium from the OS packages, driven
 * by playwright-core) against two real daemons with NATS: an operator's
 * whole distribution, as the platform's console has it.
 */
describe("the web console in Chromium, against two daemons with NATS", function () {
  this.timeout(300000);
  let nats: NatsServer;
  let fed: Awaited<ReturnType<typeof startFederation>>;
  let A: FederationMember, B: FederationMember;
  let browser: Browser;
  let alice = "";
  let bob = "";
  let pk = "";
  let jobId = "";
  const cspViolations: string[] = [];

  const open = async (m: FederationMember, actAs: string): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
    page.on("console", (msg) => {
      if (/Content Security Policy/i.test(msg.text())) cspViolations.push(msg.text());
    });
    await page.goto(`http://${m.daemon.addresses!.console!}/`);
    await page.fill("#token", m.daemon.operatorToken);
    await page.fill("#act-as", actAs);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator(`header .where[data-instance="${m.id}"]`).waitFor();
    return page;
  };
  const nav = async (page: Page, name: string): Promise<void> => {
    await page.locator("header nav").getByRole("link", { name, exact: true }).click();
    await page.locator("main h1").waitFor();
  };
  const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    nats = await NatsServer.start();
    fed = await startFederation(2, {
      regions: ["cn-shanghai", "eu-central-1"],
      config: { replication: { servers: [nats.url], staleAfterMs: 1000 } },
      configFor: () => ({ listen: { admin: "127.0.0.1:0", bootstrap: "127.0.0.1:0", metrics: "127.0.0.1:0", console: "127.0.0.1:0" } }),
    });
    [A, B] = fed.members as [FederationMember, FederationMember];
    alice = (await A.daemon.ctlJson(["account", "create", "alice"])).account.accountId as string;
    bob = (await B.daemon.ctlJson(["account", "create", "bob"])).account.accountId as string;
    for (const m of [A, B]) {
      await waitFor(`the account directory at ${m.id}`, async () => {
        const names = (await m.daemon.ctlJson(["account", "list", "--all"])).accounts.map((a: { accountName: string }) => a.accountName);
        return names.includes("alice") && names.includes("bob") ? true : undefined;
      }, 20000, 100);
    }
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ["--no-sandbox"] });
  });
  after(async () => {
    await browser?.close();
    await fed?.dispose();
    await nats?.dispose();
  });

  it("signs in, creates a product and a topic class, and registers devices from a CSV upload", async () => {
    const page = await open(A, alice);
    await nav(page, "Products");
    await page.fill("#p-name", "Smart meter");
    await page.locator('form[aria-labelledby="h-create-product"] button[type=submit]').click();
    const heading = page.locator("#h-product");
    await heading.waitFor();
    pk = (await heading.locator("code").textContent())!;
    assert.match(pk, /^[A-Za-z0-9]{11}$/);
    await page.fill("#t-name", "update");
    await page.locator('form[aria-labelledby="h-topic"] button[type=submit]').click();
    await page.getByText(`/${pk}/\${deviceName}/user/update`).or(page.locator("td code", { hasText: "/user/update" })).first().waitFor();
    // The thing model, imported from a file.
    const tsl = '{"properties":[{"identifier":"kwh","name":"kWh","accessMode":"r","dataType":{"type":"double","specs":{}}}]}';
    await page.setInputFiles("#tsl-file", { name: "model.json", mimeType: "application/json", buffer: Buffer.from(tsl) });
    await page.locator('form[aria-labelledby="h-tsl"] button[type=submit]').click();
    await page.locator('form[aria-labelledby="h-tsl"] .ok').waitFor();
    await page.waitForFunction('document.querySelector("#tsl").value.includes("kwh")');
    await shot(page, "products");

    await nav(page, "Devices");
    await page.selectOption("#d-product", pk);
    const csv = `productKey,deviceName\n${pk},meter-1\n${pk},meter-2\n${pk},meter-3\n`;
    await page.setInputFiles("#b-file", { name: "devices.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.locator(".ok", { hasText: "3 registered, 0 refused" }).waitFor();
    for (const dn of ["meter-1", "meter-2", "meter-3"]) await page.locator(`tr[data-row="${dn}"]`).waitFor();
    await shot(page, "devices");
    await page.close();
  });

  it("creates a distribution A→B in the form, watches it complete without reloading, and downloads its results", async () => {
    const page = await open(A, alice);
    await nav(page, "Distribution");
    await page.selectOption("#j-product", pk);
    await page.selectOption("#j-target", B.id);
    await page.getByLabel("meter-1", { exact: true }).check();
    await page.getByLabel("meter-2", { exact: true }).check();
    await page.locator('[data-count="2"]').waitFor();
    await page.getByRole("button", { name: "Distribute" }).click();
    const created = page.locator(".ok", { hasText: "Job " });
    await created.waitFor();
    jobId = /Job (\S+) created/.exec((await created.textContent())!)![1]!;
    const row = page.locator(`tr[data-row="${jobId}"]`);
    // The list refreshes itself: no reload, no navigation.
    await row.locator('[data-status="completed"]').waitFor({ timeout: 60000 });
    await page.locator("#h-job").waitFor();
    await page.locator('tr[data-row="meter-2"]').waitFor();
    await shot(page, "distribution");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download the results (CSV)" }).click()]);
    const text = readFileSync((await download.path()), "utf8");
    const lines = text.trim().split("\n");
    assert.equal(lines[0], "deviceName,result,generation,errorCode,errorMessage,note");
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(",").slice(0, 3).join(",")).sort(),
      ["meter-1,succeeded,1", "meter-2,succeeded,1"],
    );
    await page.close();
  });

  it("B's console: the product is a read-only copy (an edit is refused with R9's text), the devices are inactive, and the overview shows replication and route counts", async () => {
    const page = await open(B, alice);
    await nav(page, "Products");
    await page.locator(`tr[data-row="${pk}"] .badge.readonly`).waitFor();
    await page.locator(`tr[data-row="${pk}"] button.link`).click();
    await page.locator('#h-product [data-readonly="true"]').waitFor();
    await page.fill("#e-name", "Renamed at the receiver");
    await page.locator('form[aria-labelledby="h-edit-product"] button[type=submit]').click();
    const refusal = page.locator('form[aria-labelledby="h-edit-product"] .refusal');
    await refusal.waitFor();
    assert.equal(await refusal.locator(".rule").textContent(), "R9");
    assert.match((await refusal.textContent())!, /read-only|R9/);
    await shot(page, "b-product-r9");

    await nav(page, "Devices");
    await page.selectOption("#d-product", pk);
    for (const dn of ["meter-1", "meter-2"]) {
      const status = page.locator(`tr[data-row="${dn}"] .badge`);
      await status.waitFor();
      assert.equal(await status.textContent(), "inactive");
    }

    await nav(page, "Federation");
    await page.locator('[data-value="revision"]').waitFor();
    assert.ok(Number(await page.locator('[data-value="revision"]').textContent()) > 0, "a replication revision");
    assert.match((await page.locator('[data-value="lag"]').textContent())!, /^\d+\.\d s$/);
    assert.ok(Number(await page.locator('[data-value="route-devices"]').textContent()) >= 2, "B's table holds the moved devices' routes");
    await page.locator(`tr[data-row="${A.id}"] .badge.reachable`).waitFor({ timeout: 20000 });
    // A's own replication, as A answered B just now.
    assert.ok(Number(await page.locator(`tr[data-row="${A.id}"] [data-value="instance-revision"]`).textContent()) > 0, "A's revision, asked of A");
    await page.locator("figure.map svg .node.self").waitFor();
    await shot(page, "b-overview");
    await page.close();
  });

  it("R1: a device list of 1,001 rows is flagged before submit and refused with R1's text", async () => {
    const page = await open(A, alice);
    await nav(page, "Distribution");
    await page.selectOption("#j-product", pk);
    // A record of another product refuses the file, as iotfedctl does.
    await page.setInputFiles("#j-csv", { name: "mixed.csv", mimeType: "text/csv", buffer: Buffer.from(`productKey,deviceName\n${pk},meter-1\nzzzzzzzzzzz,other-1\n`) });
    await page.locator('.refusal', { hasText: "other-1 belongs to product zzzzzzzzzzz" }).waitFor();
    await page.locator('[data-count="0"]').waitFor();
    const rows = Array.from({ length: 1001 }, (_, i) => `${pk},bulk-${i}`).join("\n");
    await page.setInputFiles("#j-csv", { name: "list.csv", mimeType: "text/csv", buffer: Buffer.from(`productKey,deviceName\n${rows}\n`) });
    await page.locator('[data-count="1001"][role="alert"]').waitFor();
    await page.getByRole("button", { name: "Distribute" }).click();
    const refusal = page.locator('form[aria-labelledby="h-new-job"] .refusal');
    await refusal.waitFor();
    assert.equal(await refusal.locator(".rule").textContent(), "R1");
    await page.close();
  });

  it("cross-account: alice requests a code for bob, bob reads it in B's console, alice creates the job with it", async () => {
    const a = await open(A, alice);
    await nav(a, "Distribution");
    await a.selectOption("#j-product", pk);
    await a.selectOption("#j-target", B.id);
    await a.getByLabel("To another account (needs its authorization code, R4)").check();
    await a.fill("#j-account", bob);
    await a.getByRole("button", { name: "Request an authorization code" }).click();
    await a.locator(".ok", { hasText: "requested" }).waitFor();

    const b = await open(B, bob);
    await nav(b, "Distribution");
    const codeCell = b.locator("[data-code]").first();
    await codeCell.waitFor();
    const code = (await codeCell.getAttribute("data-code"))!;
    assert.match(code, /^\d{6}$/);
    await shot(b, "b-authcodes");
    await b.close();

    await a.fill("#j-code", code);
    await a.getByLabel("meter-3", { exact: true }).check();
    await a.getByRole("button", { name: "Distribute" }).click();
    const created = a.locator('form[aria-labelledby="h-new-job"] .ok', { hasText: "Job " });
    await created.waitFor();
    const id = /Job (\S+) created/.exec((await created.textContent())!)![1]!;
    await a.locator(`tr[data-row="${id}"] [data-status="completed"]`).waitFor({ timeout: 60000 });
    await a.close();
  });

  it("switches to 简体中文 on every page, where every control is labelled; each page is saved as a screenshot", async () => {
    const page = await open(A, alice);
    await page.getByLabel("Language").first().selectOption("zh");
    await page.waitForFunction('document.documentElement.lang === "zh-CN"');
    for (const [id, title] of Object.entries(ZH_TITLES)) {
      await page.locator("header nav").getByRole("link", { name: title, exact: true }).click();
      await page.locator("main h1", { hasText: title }).waitFor();
      assert.equal(await page.locator("main h1").textContent(), title);
      await page.waitForTimeout(300);
      await shot(page, `zh-${id}`);
      // Every control has a label a screen reader reads.
      const unlabelled = await page.evaluate(`[...document.querySelectorAll("input, select, textarea")]
        .filter((e) => e.type !== "hidden" && e.labels.length === 0 && !e.getAttribute("aria-label"))
        .map((e) => e.outerHTML.slice(0, 80))`);
      assert.deepEqual(unlabelled, [], `unlabelled controls on ${id}`);
    }
    assert.equal(await page.getByRole("button", { name: "退出" }).count(), 1);
    await page.close();
    assert.deepEqual(cspViolations, [], "no Content-Security-Policy violation on any page");
  });
});
