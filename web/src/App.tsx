import { useState } from 'react';
import { useAppState } from './app/context';
import { Banner } from './components/Banner';
import { GridView } from './components/GridView';
import { Header } from './components/Header';
import { History } from './components/History';
import { Ledger } from './components/Ledger';
import { Limits } from './components/Limits';
import { SignIn } from './components/SignIn';
import { StakeBar } from './components/StakeBar';
import { Toasts } from './components/Toasts';

type Tab = 'history' | 'ledger' | 'limits';
const TABS: { id: Tab; text: string }[] = [
  { id: 'history', text: 'History' },
  { id: 'ledger', text: 'Ledger' },
  { id: 'limits', text: 'Limits' },
];

export function App() {
  const { session } = useAppState();
  const [tab, setTab] = useState<Tab>('history');
  return (
    <div className="app">
      <Header />
      <Banner />
      <main className="main">
        <GridView />
        <StakeBar />
        {session === null ? (
          <SignIn />
        ) : (
          <div className="panels">
            <div className="tabs" role="tablist">
              {TABS.map((t) => (
                <button
                  key={t.id}
                  type="button"
                  role="tab"
                  aria-selected={tab === t.id}
                  className={`tab ${tab === t.id ? 'tab-on' : ''}`}
                  onClick={() => setTab(t.id)}
                >
                  {t.text}
                </button>
              ))}
            </div>
            {tab === 'history' && <History />}
            {tab === 'ledger' && <Ledger />}
            {tab === 'limits' && <Limits />}
          </div>
        )}
      </main>
      <Toasts />
    </div>
  );
}
