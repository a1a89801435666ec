import { createContext, useContext, useSyncExternalStore } from 'react';
import type { Controller } from './controller';
import type { State } from './store';

export const ControllerContext = createContext<Controller | null>(null);

export function useController(): Controller {
  const controller = useContext(ControllerContext);
  if (controller === null) throw new Error('no Controller in context');
  return controller;
}

export function useAppState(): State {
  const { store } = useController();
  return useSyncExternalStore(store.subscribe, store.getState);
}
