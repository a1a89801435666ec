import { useAppState } from '../app/context';

/** The feed's health in words: a warning when DEGRADED, betting suspended when CRITICAL. */
export function Banner() {
  const { status, connected } = useAppState();
  if (status === null) return null; // not connected yet
  if (!connected) {
    return <div className="banner banner-warn" role="status">Connection lost — reconnecting. Prices and bets will resync.</div>;
  }
  if (status.betting === 'suspended') {
    return (
      <div className="banner banner-critical" role="alert">
        Betting suspended: the price feed is critical. Open bets in affected columns are refunded.
      </div>
    );
  }
  if (status.priceFeed === 'degraded') {
    return <div className="banner banner-warn" role="status">Price feed degraded: prices may lag. Betting stays open.</div>;
  }
  if (status.priceFeed === 'critical') {
    return (
      <div className="banner banner-warn" role="status">
        Price feed critical, betting held open by the operator. Columns with stale prices are void and refunded.
      </div>
    );
  }
  return null;
}
