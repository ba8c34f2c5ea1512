import type { Db } from "./db.js";
import type { RecordsRepo } from "./records.js";
import type { RecordKind } from "./record-kinds.js";
import { NotFoundError, PreconditionError, newAccountId, newTokenId, newTokenSecret, type Account, type AccountRoute } from "../domain/index.js";
import { hashToken } from "../security/index.js";
import { toPage, decodePageToken, type Page } from "./paging.js";

export interface TokenRecord {
  tokenId: string;
  accountId: string;
  description: string;
  createdAt: number;
  revokedAt: number;
}

interface AccountRow {
  account_id: string;
  account_name: string;
  created_at: number;
}
interface TokenRow {
  token_id: string;
  account_id: string;
  description: string;
  created_at: number;
  revoked_at: number;
}

const toAccount = (r: AccountRow): Account => ({ accountId: r.account_id, accountName: r.account_name, createdAt: r.created_at });
const toToken = (r: TokenRow): TokenRecord => ({
  tokenId: r.token_id,
  accountId: r.account_id,
  description: r.description,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
});

interface AccountRouteRow {
  account_id: string;
  account_name: string;
  home_instance: string;
  version: number;
  created_at: number;
}
const toAccountRoute = (r: AccountRouteRow): AccountRoute => ({
  accountId: r.account_id,
  accountName: r.account_name,
  home: r.home_instance,
  version: r.version,
  createdAt: r.created_at,
  committedAt: r.created_at,
});
/**
 * The account directory is the accounts table itself: a record inserts or
 * renames an account; tokens stay local to each daemon. With the owner
 * placeholder below, this file holds all the SQL on the accounts table.
 */
export function accountRecordKind(db: Db): RecordKind<"account"> {
  const upsert = db.prepare(
    `INSERT INTO accounts(account_id, account_name, created_at, home_instance, version, revision)
     VALUES (@accountId, @accountName, @createdAt, @home, @version, @revision)
     ON CONFLICT(account_id) DO UPDATE SET account_name = excluded.account_name, home_instance = excluded.home_instance,
       version = excluded.version, revision = excluded.revision
     WHERE excluded.version > accounts.version`,
  );
  const select = db.prepare<[string], AccountRouteRow>(
    "SELECT account_id, account_name, home_instance, version, created_at FROM accounts WHERE account_id = ? AND version > 0",
  );
  return {
    kind: "account",
    key: (r) => [r.accountId, ""],
    upsert: (r, revision) => upsert.run({ ...r, revision }).changes === 1,
    get(k1) {
      const r = select.get(k1);
      return r === undefined ? undefined : toAccountRoute(r);
    },
    ownedKeysSql: "SELECT account_id AS k1, '' AS k2 FROM accounts WHERE home_instance = @self AND version > 0",
  };
}


export type AccountsRepo = ReturnType<typeof createAccountsRepo>;

/**
 * The account directory (the same account in every region: records are
 * replicated through the routes bucket, without tokens) and this daemon's
 * API tokens. An account's tokens are issued by each daemon's operator:
 * that is what enables the account there.
 */
export function createAccountsRepo(db: Db, opts: { self: string; records: RecordsRepo; now?: () => number }) {
  const now = opts.now ?? Date.now;
  const selectByName = db.prepare<[string], AccountRow>("SELECT * FROM accounts WHERE account_name = ?");
  const hasLiveToken = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM api_tokens WHERE account_id = ? AND revoked_at = 0");
  // Accounts made before the directory was replicated become this daemon's records.
  const unadopted = db.prepare<[], { account_id: string }>("SELECT account_id FROM accounts WHERE version = 0 AND home_instance = ''");
  const selectAccount = db.prepare<[string], AccountRow>("SELECT * FROM accounts WHERE account_id = ?");
  const listAccounts = db.prepare<[string, number], AccountRow>(
    "SELECT * FROM accounts WHERE account_id > ? ORDER BY account_id LIMIT ?",
  );
  const insertToken = db.prepare(
    "INSERT INTO api_tokens(token_id, account_id, token_hash, description, created_at) VALUES (?, ?, ?, ?, ?)",
  );
  const selectTokenByHash = db.prepare<[Buffer], TokenRow>("SELECT * FROM api_tokens WHERE token_hash = ?");
  const selectToken = db.prepare<[string], TokenRow>("SELECT * FROM api_tokens WHERE token_id = ?");
  const listTokens = db.prepare<[string], TokenRow>(
    "SELECT * FROM api_tokens WHERE account_id = ? ORDER BY created_at DESC, token_id",
  );
  // An owner account the directory has not brought yet (no NATS, or not yet):
  // kept at version 0, so that its directory record replaces it.
  const insertPlaceholder = db.prepare("INSERT INTO accounts(account_id, account_name, created_at, home_instance) VALUES (?, ?, ?, ?)");
  const revoke = db.prepare("UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at = 0");

  return {
    /** Creates an account here and queues its directory record for every daemon. */
    create(accountName: string): Account {
      const account = { accountId: newAccountId(), accountName, createdAt: now() };
      db.transaction(() =>
        opts.records.commit({ kind: "account", route: { ...account, home: opts.self, version: 1, committedAt: account.createdAt } }, true),
      )();
      return account;
    },
    /** Publishes accounts made before the directory was replicated; returns how many. */
    adoptLocal(): number {
      return db.transaction(() => {
        let n = 0;
        for (const { account_id } of unadopted.all()) {
          const a = selectAccount.get(account_id)!;
          opts.records.commit({ kind: "account", route: { accountId: a.account_id, accountName: a.account_name, home: opts.self, version: 1, createdAt: a.created_at, committedAt: now() } }, true);
          n++;
        }
        return n;
      })();
    },
    /**
     * The owner account of a product bundle received from `source`, known
     * here before the directory brings its record (inside the handoff's
     * transaction). Refuses an id or name that the directory gives otherwise.
     */
    knowOwner(accountId: string, accountName: string, source: string, t: number): void {
      const acct = selectAccount.get(accountId);
      if (acct === undefined) {
        const byName = selectByName.get(accountName);
        if (byName !== undefined) {
          throw new PreconditionError(`account name ${accountName} belongs to account ${byName.account_id} here, not ${accountId}`, { field: "product.account_id" });
        }
        insertPlaceholder.run(accountId, accountName, t, source);
      } else if (acct.account_name !== accountName) {
        throw new PreconditionError(`account ${accountId} is named ${acct.account_name} here, not ${accountName}`, { field: "product.account_id" });
      }
    },
    getByName(accountName: string): Account | undefined {
      const r = selectByName.get(accountName);
      return r === undefined ? undefined : toAccount(r);
    },
    /** True when this daemon accepts a token of the account (its operator enabled it here). */
    enabledHere(accountId: string): boolean {
      return hasLiveToken.get(accountId)!.n > 0;
    },
    get(accountId: string): Account | undefined {
      const r = selectAccount.get(accountId);
      return r === undefined ? undefined : toAccount(r);
    },
    require(accountId: string): Account {
      const a = this.get(accountId);
      if (a === undefined) throw new NotFoundError(`account ${accountId} does not exist`, { field: "account_id" });
      return a;
    },
    list(size: number, pageToken: string): Page<Account> {
      const after = decodePageToken(pageToken) ?? "";
      return toPage(listAccounts.all(after, size + 1).map(toAccount), size, (a) => a.accountId);
    },
    /** Issues a token; the value is returned once and only its hash is stored. */
    createToken(accountId: string, description: string): { token: TokenRecord; secret: string } {
      this.require(accountId);
      const secret = newTokenSecret();
      const token: TokenRecord = { tokenId: newTokenId(), accountId, description, createdAt: now(), revokedAt: 0 };
      insertToken.run(token.tokenId, accountId, hashToken(secret), description, token.createdAt);
      return { token, secret };
    },
    /** The valid (unrevoked) token with this value, if any. */
    findToken(secret: string): TokenRecord | undefined {
      const r = selectTokenByHash.get(hashToken(secret));
      return r === undefined || r.revoked_at !== 0 ? undefined : toToken(r);
    },
    listTokens(accountId: string): TokenRecord[] {
      this.require(accountId);
      return listTokens.all(accountId).map(toToken);
    },
    revokeToken(tokenId: string): void {
      if (selectToken.get(tokenId) === undefined) throw new NotFoundError(`token ${tokenId} does not exist`, { field: "token_id" });
      revoke.run(now(), tokenId);
    },
  };
}
