import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import "./app.css";
import { PrincipalKind } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { adminClient, loadSession, refusal, saveSession, type Refusal, type Session } from "./api.js";
import { LANGS, savedLang, saveLang, translate, type Lang, type MessageKey } from "./i18n.js";
import { Ctx, Field, type ConsoleContext } from "./ui.js";
import { OverviewPage } from "./pages/overview.js";
import { ProductsPage } from "./pages/products.js";
import { DevicesPage } from "./pages/devices.js";
import { DistributionPage } from "./pages/distribution.js";
import { AuditPage, GrantsPage, PoolPage } from "./pages/access.js";

const PAGES: { id: string; title: MessageKey; view: () => preact.JSX.Element }[] = [
  { id: "overview", title: "overview", view: OverviewPage },
  { id: "products", title: "products", view: ProductsPage },
  { id: "devices", title: "devices", view: DevicesPage },
  { id: "distribution", title: "distribution", view: DistributionPage },
  { id: "grants", title: "grants", view: GrantsPage },
  { id: "pool", title: "pool", view: PoolPage },
  { id: "audit", title: "audit", view: AuditPage },
];

const pageFromHash = (): string => {
  const id = location.hash.replace(/^#\/?/, "");
  return PAGES.some((p) => p.id === id) ? id : "overview";
};

function LanguageSwitch({ lang, setLang }: { lang: Lang; setLang: (l: Lang) => void }) {
  return (
    <label class="lang">
      <span class="sr-only">{translate(lang, "language")}</span>
      <select
        aria-label={translate(lang, "language")}
        value={lang}
        onChange={(e) => {
          const l = e.currentTarget.value as Lang;
          saveLang(l);
          setLang(l);
        }}
      >
        {LANGS.map((l) => (
          <option key={l.id} value={l.id}>
            {l.name}
          </option>
        ))}
      </select>
    </label>
  );
}

function SignIn({ lang, onSignedIn }: { lang: Lang; onSignedIn: (s: Session) => void }) {
  const t = (k: MessageKey) => translate(lang, k);
  const [token, setToken] = useState("");
  const [actAs, setActAs] = useState("");
  const [error, setError] = useState<Refusal | undefined>(undefined);
  return (
    <main class="signin">
      <form
        aria-labelledby="h-signin"
        onSubmit={(e) => {
          e.preventDefault();
          const s = { token: token.trim(), actAs: actAs.trim() };
          adminClient(s)
            .whoAmI({})
            .then(
              () => onSignedIn(s),
              (err: unknown) => setError(refusal(err)),
            );
        }}
      >
        <h1 id="h-signin">{t("signInTitle")}</h1>
        <p class="muted">{t("signInHint")}</p>
        <Field id="token" label={t("token")}>
          <input id="token" type="password" autoComplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        </Field>
        <Field id="act-as" label={t("actAs")} hint={t("actAsHint")}>
          <input id="act-as" value={actAs} aria-describedby="act-as-hint" onInput={(e) => setActAs(e.currentTarget.value)} />
        </Field>
        <button type="submit">{t("signIn")}</button>
        {error !== undefined && (
          <div class="refusal" role="alert">
            {error.message}
          </div>
        )}
      </form>
    </main>
  );
}

function Shell({ session, lang, setLang, signOut }: { session: Session; lang: Lang; setLang: (l: Lang) => void; signOut: () => void }) {
  const admin = useMemo(() => adminClient(session), [session]);
  const [who, setWho] = useState<ConsoleContext["self"] | undefined>(undefined);
  const [error, setError] = useState<Refusal | undefined>(undefined);
  const [page, setPage] = useState(pageFromHash());
  useEffect(() => {
    const on = (): void => setPage(pageFromHash());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  useEffect(() => {
    admin.whoAmI({}).then(
      (w) => setWho({ instanceId: w.instanceId, regionId: w.regionId, operator: w.kind === PrincipalKind.OPERATOR, accountId: w.accountId }),
      (e: unknown) => setError(refusal(e)),
    );
  }, [admin]);
  useEffect(() => {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  }, [lang]);
  const t = (k: MessageKey) => translate(lang, k);
  if (who === undefined) {
    return error === undefined ? (
      <p class="muted">…</p>
    ) : (
      <main class="signin">
        <div class="refusal" role="alert">
          {error.message}
        </div>
        <button type="button" onClick={signOut}>
          {t("signOut")}
        </button>
      </main>
    );
  }
  const View = PAGES.find((p) => p.id === page)!.view;
  return (
    <Ctx.Provider value={{ admin, lang, self: who }}>
      <header>
        <a class="skip" href="#main">
          {t("skip")}
        </a>
        <span class="brand">iotfed</span>
        <span class="where" data-instance={who.instanceId}>
          {who.regionId} / {who.instanceId}
        </span>
        <nav aria-label={t("navigation")}>
          {PAGES.map((p) => (
            <a key={p.id} href={`#/${p.id}`} aria-current={p.id === page ? "page" : undefined}>
              {t(p.title)}
            </a>
          ))}
        </nav>
        <span class="who">{who.operator ? (who.accountId === "" ? t("operator") : `${t("operator")} → ${who.accountId}`) : who.accountId}</span>
        <LanguageSwitch lang={lang} setLang={setLang} />
        <button type="button" onClick={signOut}>
          {t("signOut")}
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <View />
      </main>
    </Ctx.Provider>
  );
}

function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession());
  const [lang, setLang] = useState<Lang>(savedLang());
  if (session === undefined) {
    return (
      <>
        <div class="topbar">
          <LanguageSwitch lang={lang} setLang={setLang} />
        </div>
        <SignIn
          lang={lang}
          onSignedIn={(s) => {
            saveSession(s);
            setSession(s);
          }}
        />
      </>
    );
  }
  return (
    <Shell
      session={session}
      lang={lang}
      setLang={setLang}
      signOut={() => {
        saveSession(undefined);
        setSession(undefined);
      }}
    />
  );
}

render(<App />, document.getElementById("app")!);
