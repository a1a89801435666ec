/**
 * The client against tests/vectors/client_vectors.json, which scripts/gen_client_vectors.py makes from
 * the Python modules (and tests/unit/test_client_vectors.py keeps current): the same bet text, SIWE
 * message, session key resource and signature format, grid math and money formatting as the server.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url } from '../src/lib/base64url';
import { betMessage, type BetFields } from '../src/lib/betMessage';
import * as grid from '../src/lib/grid';
import { formatCents, formatMultiplier, minMultiplier, parseMultiplier, payoutCents } from '../src/lib/money';
import { createSessionKey, signText, verifyText } from '../src/lib/sessionKey';
import { loginMessage, sessionKeyResource } from '../src/lib/siwe';

const path = fileURLToPath(new URL('../../tests/vectors/client_vectors.json', import.meta.url));
const V = JSON.parse(readFileSync(path, 'utf-8')) as Vectors;

interface Vectors {
  bet_messages: { input: BetFields; text: string }[];
  grid: {
    spec: { column_seconds: number; row_cents: number; placeable_min_offset: number; max_ahead_columns: number };
    cells: { cell: string; column: number; row: number; start_ms: number; end_ms: number; lower: number; upper: number }[];
    column_at: { ts_ms: number; column: number }[];
    row_at: { price: number; row: number }[];
    placeable: { column: number; now_ms: number; placeable: boolean }[];
  }[];
  cell_ids: { valid: { text: string; column: number; row: number }[]; invalid: string[] };
  multipliers: { format: { e4: number; text: string }[]; parse: { text: string; e4: number }[]; parse_invalid: string[] };
  min_multiplier: { shown: string; min: string }[];
  money: { payout: { amount: number; multiplier_e4: number; payout: number }[]; format_cents: { amount: number; text: string }[] };
  session_key: { pkcs8_b64url: string; spki_b64url: string; resource: string; signed_text: string; signature_b64url: string };
  siwe: {
    input: {
      domain: string;
      address: string;
      statement: string;
      uri: string;
      chain_id: number;
      nonce: string;
      issued_at: string;
      expiration_time: string | null;
      resources: string[];
    };
    message: string;
    signature: string;
  }[];
  personal_sign: { private_key: `0x${string}`; address: string; message: string; signature: string }[];
}

const ECDSA = { name: 'ECDSA', namedCurve: 'P-256' } as const;

describe('bet message', () => {
  it.each(V.bet_messages)('matches the Python text for $input.cell', ({ input, text }) => {
    expect(betMessage(input)).toBe(text);
  });

  it('refuses line breaks in values', () => {
    const input = V.bet_messages[0]!.input;
    expect(() => betMessage({ ...input, nonce: 'a\nCell: 1:2' })).toThrow(/line break/);
  });
});

describe('grid', () => {
  for (const g of V.grid) {
    const spec: grid.GridSpec = {
      columnSeconds: g.spec.column_seconds,
      rowCents: g.spec.row_cents,
      placeableMinOffset: g.spec.placeable_min_offset,
      maxAheadColumns: g.spec.max_ahead_columns,
    };
    const name = `${spec.columnSeconds}s x ${spec.rowCents}c`;
    it(`cell bounds and times (${name})`, () => {
      for (const c of g.cells) {
        expect(grid.formatCell(c.column, c.row)).toBe(c.cell);
        expect(grid.columnStartMs(spec, c.column)).toBe(c.start_ms);
        expect(grid.columnEndMs(spec, c.column)).toBe(c.end_ms);
        expect(grid.rowLowerCents(spec, c.row)).toBe(c.lower);
        expect(grid.rowUpperCents(spec, c.row)).toBe(c.upper);
      }
    });
    it(`column and row lookup (${name})`, () => {
      for (const { ts_ms, column } of g.column_at) expect(grid.columnAt(spec, ts_ms)).toBe(column);
      for (const { price, row } of g.row_at) expect(grid.rowAt(spec, price)).toBe(row);
    });
    it(`placeability (${name})`, () => {
      for (const p of g.placeable) expect([p.column, grid.isPlaceable(spec, p.column, p.now_ms)]).toEqual([p.column, p.placeable]);
    });
  }

  it('parses cell ids as the server does', () => {
    for (const { text, column, row } of V.cell_ids.valid) expect(grid.parseCell(text)).toEqual({ column, row });
    for (const text of V.cell_ids.invalid) expect(grid.parseCell(text)).toBeNull();
  });
});

describe('money', () => {
  it('formats and parses multipliers', () => {
    for (const { e4, text } of V.multipliers.format) expect(formatMultiplier(e4)).toBe(text);
    for (const { text, e4 } of V.multipliers.parse) expect(parseMultiplier(text)).toBe(e4);
    for (const text of V.multipliers.parse_invalid) expect(parseMultiplier(text)).toBeNull();
  });

  it.each(V.min_multiplier)('min_multiplier of $shown is $min', ({ shown, min }) => {
    expect(minMultiplier(shown)).toBe(min);
  });

  it('pays out and formats cents', () => {
    for (const p of V.money.payout) expect(payoutCents(p.amount, p.multiplier_e4)).toBe(p.payout);
    for (const { amount, text } of V.money.format_cents) expect(formatCents(amount)).toBe(text);
  });
});

describe('session key', () => {
  const vector = V.session_key;

  it('writes the SIWE resource from the SPKI', () => {
    expect(sessionKeyResource(vector.spki_b64url)).toBe(vector.resource);
  });

  it('exports the same canonical SPKI as the server loads', async () => {
    const key = await crypto.subtle.importKey('spki', fromBase64Url(vector.spki_b64url) as BufferSource, ECDSA, true, ['verify']);
    expect(toBase64Url(new Uint8Array(await crypto.subtle.exportKey('spki', key)))).toBe(vector.spki_b64url);
  });

  it("verifies the Python signature: same text, hash and raw r||s encoding", async () => {
    const key = await crypto.subtle.importKey('spki', fromBase64Url(vector.spki_b64url) as BufferSource, ECDSA, false, ['verify']);
    const signature = fromBase64Url(vector.signature_b64url);
    expect(signature.length).toBe(64);
    expect(await verifyText(key, vector.signed_text, signature)).toBe(true);
    expect(await verifyText(key, `${vector.signed_text} `, signature)).toBe(false);
  });

  it('signs bets in a form the server key verifies', async () => {
    const privateKey = await crypto.subtle.importKey('pkcs8', fromBase64Url(vector.pkcs8_b64url) as BufferSource, ECDSA, false, ['sign']);
    const publicKey = await crypto.subtle.importKey('spki', fromBase64Url(vector.spki_b64url) as BufferSource, ECDSA, false, ['verify']);
    const text = betMessage(V.bet_messages[0]!.input);
    expect(text).toBe(vector.signed_text);
    const signature = await signText(privateKey, text);
    expect(signature).toMatch(/^[A-Za-z0-9_-]{86}$/); // 64 bytes, unpadded base64url
    expect(await verifyText(publicKey, text, fromBase64Url(signature))).toBe(true);
  });

  it('makes non-extractable P-256 keys with a 91-byte SPKI like the server expects', async () => {
    const key = await createSessionKey();
    expect(key.privateKey.extractable).toBe(false);
    const spki = fromBase64Url(key.spki);
    expect(spki.length).toBe(91);
    expect(toBase64Url(spki.slice(0, 26))).toBe(toBase64Url(fromBase64Url(vector.spki_b64url).slice(0, 26)));
  });
});

describe('SIWE login message', () => {
  it.each(V.siwe)('matches the siwe library for $input.domain', ({ input, message }) => {
    const resource = input.resources[0]!;
    const text = loginMessage({
      domain: input.domain,
      uri: input.uri,
      address: input.address.toLowerCase(),
      chainId: input.chain_id,
      nonce: input.nonce,
      issuedAt: new Date(input.issued_at),
      expirationTime: input.expiration_time === null ? undefined : new Date(input.expiration_time),
      sessionKeySpki: resource.replace('urn:taptrade:session-key:', ''),
      statement: input.statement,
    });
    expect(text).toBe(message);
  });

  it.each(V.siwe)('signs as eth_account does ($input.domain)', async ({ message, signature }) => {
    const account = privateKeyToAccount(V.personal_sign[0]!.private_key);
    expect(await account.signMessage({ message })).toBe(signature);
  });

  it.each(V.personal_sign)('personal_sign matches ($message)', async ({ private_key, address, message, signature }) => {
    const account = privateKeyToAccount(private_key);
    expect(account.address).toBe(address);
    expect(await account.signMessage({ message })).toBe(signature);
  });
});
