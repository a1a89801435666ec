import { useEffect, useState } from 'react';
import { useAppState, useController } from '../app/context';
import { rejectionReason } from '../app/messages';
import { type Signer, type WalletOption, demoWallet, discoverWallets } from '../lib/wallet';
import { shortAddress } from '../lib/format';

interface Chosen {
  name: string;
  signer: Signer;
}

/** Pick a wallet (EIP-6963, window.ethereum, or the demo wallet in demo mode), then sign in with SIWE. */
export function SignIn() {
  const controller = useController();
  const { grid } = useAppState();
  const [wallets, setWallets] = useState<WalletOption[]>([]);
  const [chosen, setChosen] = useState<Chosen | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => discoverWallets(setWallets), []);

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      setError(rejectionReason(e));
    } finally {
      setBusy(false);
    }
  };

  const choose = (wallet: WalletOption) =>
    run(async () => setChosen({ name: wallet.name, signer: await wallet.connect() }));
  const chooseDemo = () => run(async () => setChosen({ name: 'Demo wallet', signer: demoWallet() }));
  const signIn = () =>
    run(async () => {
      if (chosen !== null) await controller.signIn(chosen.signer, chosen.name);
    });

  return (
    <section className="signin" aria-label="Sign in">
      <h2>Sign in to play</h2>
      <p className="muted">One wallet signature per session; taps are signed by a key kept in this browser.</p>
      <div className="wallets">
        {wallets.map((w) => (
          <button key={w.id} type="button" className="btn wallet" disabled={busy} onClick={() => void choose(w)}>
            {w.icon !== undefined && <img src={w.icon} alt="" width={20} height={20} />} {w.name}
          </button>
        ))}
        {grid?.mode === 'demo' && (
          <button type="button" className="btn wallet wallet-demo" data-testid="demo-wallet" disabled={busy} onClick={() => void chooseDemo()}>
            Demo wallet <span className="muted">(play money, key stored in this browser)</span>
          </button>
        )}
        {wallets.length === 0 && grid?.mode !== 'demo' && (
          <p className="muted">No wallet found. Install a browser wallet extension to sign in.</p>
        )}
      </div>
      {chosen !== null && (
        <p className="chosen">
          {chosen.name}: <code>{shortAddress(chosen.signer.address)}</code>
        </p>
      )}
      <button type="button" className="btn btn-primary" data-testid="sign-in" disabled={chosen === null || busy} onClick={() => void signIn()}>
        {busy ? 'Waiting for the wallet…' : 'Sign in'}
      </button>
      {error !== null && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
