/**
 * Wallets: EIP-6963 discovery of browser wallets (with the legacy `window.ethereum` as a fallback), and in
 * demo mode a local "Demo wallet" whose private key lives in localStorage (play money only).
 * Each gives a Signer: an address and `personal_sign` (EIP-191), all that SIWE needs.
 */
import { type Address, type EIP1193Provider, createWalletClient, custom } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

export interface Signer {
  address: Address;
  signMessage(message: string): Promise<string>;
}

export interface WalletOption {
  id: string;
  name: string;
  icon?: string | undefined;
  connect(): Promise<Signer>;
}

interface Eip6963Detail {
  info: { uuid: string; name: string; icon: string; rdns: string };
  provider: EIP1193Provider;
}

export const DEMO_KEY_STORAGE = 'taptrade.demoWalletKey';

function injectedOption(id: string, name: string, provider: EIP1193Provider, icon?: string): WalletOption {
  return {
    id,
    name,
    icon,
    async connect() {
      const client = createWalletClient({ transport: custom(provider) });
      const [address] = await client.requestAddresses();
      if (address === undefined) throw new Error('the wallet gave no account');
      return { address, signMessage: (message) => client.signMessage({ account: address, message }) };
    },
  };
}

/** Announced wallets as they arrive (EIP-6963); `onChange` gets the full list each time. */
export function discoverWallets(onChange: (wallets: WalletOption[]) => void): () => void {
  const found = new Map<string, WalletOption>();
  const publish = () => {
    const list = [...found.values()];
    const legacy = (window as { ethereum?: EIP1193Provider }).ethereum;
    if (list.length === 0 && legacy !== undefined) list.push(injectedOption('injected', 'Browser wallet', legacy));
    onChange(list);
  };
  const onAnnounce = (event: Event) => {
    const detail = (event as CustomEvent<Eip6963Detail>).detail;
    if (detail?.info?.uuid === undefined || detail.provider === undefined) return;
    found.set(detail.info.uuid, injectedOption(detail.info.uuid, detail.info.name, detail.provider, detail.info.icon));
    publish();
  };
  window.addEventListener('eip6963:announceProvider', onAnnounce);
  window.dispatchEvent(new Event('eip6963:requestProvider'));
  publish();
  return () => window.removeEventListener('eip6963:announceProvider', onAnnounce);
}

/** The demo wallet's signer; its key is made once and kept in this browser. */
export function demoWallet(storage: Storage = localStorage): Signer {
  let key = storage.getItem(DEMO_KEY_STORAGE);
  if (key === null || !/^0x[0-9a-fA-F]{64}$/.test(key)) {
    key = generatePrivateKey();
    storage.setItem(DEMO_KEY_STORAGE, key);
  }
  const account = privateKeyToAccount(key as `0x${string}`);
  return { address: account.address, signMessage: (message) => account.signMessage({ message }) };
}
