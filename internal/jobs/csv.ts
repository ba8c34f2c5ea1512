import { IotfedError } from "../domain/index.js";

/**
 * CSV for distribution jobs: the device list template an operator fills in,
 * its parser (R1: at most the configured number of records), and the
 * per-device result download.
 */
export const DEVICE_LIST_TEMPLATE = "productKey,deviceName\n";

/** A device list that cannot be read; the message names the line. */
export class CsvError extends IotfedError {
  override readonly name = "CsvError";
  readonly code = "INVALID_ARGUMENT";
}

function splitLine(line: string, lineNo: number): string[] {
  const cells: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === "") quoted = true;
    else if (c === ",") {
      cells.push(cur.trim());
      cur = "";
    } else cur += c;
  }
  if (quoted) throw new CsvError(`line ${lineNo}: unterminated quote`);
  cells.push(cur.trim());
  return cells;
}

/**
 * Parses a device list: a header `productKey,deviceName` (or `deviceName`
 * alone), then one device per line. Every record must name `productKey`
 * when the column is there; a record of another product refuses the file.
 */
export function parseDeviceList(text: string, productKey: string, max: number): string[] {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const header = splitLine(lines[0] ?? "", 1).map((h) => h.toLowerCase());
  const dnCol = header.indexOf("devicename");
  const pkCol = header.indexOf("productkey");
  if (dnCol < 0) throw new CsvError("line 1: the header must name a deviceName column (template: productKey,deviceName)");
  const names: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    const cells = splitLine(line, i + 1);
    const dn = cells[dnCol] ?? "";
    if (dn === "") throw new CsvError(`line ${i + 1}: deviceName is empty`);
    if (pkCol >= 0 && cells[pkCol] !== productKey) {
      throw new CsvError(`line ${i + 1}: device ${dn} belongs to product ${cells[pkCol] ?? "(none)"}, not ${productKey}; a job moves devices of one product`);
    }
    names.push(dn);
    if (names.length > max) throw new CsvError(`holds more than ${max} records; a job moves at most ${max} devices (R1)`);
  }
  if (names.length === 0) throw new CsvError("holds no device records");
  return names;
}

const cell = (v: string | number): string => {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function toCsv(header: string[], rows: (string | number)[][]): string {
  return [header, ...rows].map((r) => r.map(cell).join(",")).join("\n") + "\n";
}
