// Injects the command module into React, so tests can hand the app a fake.

import { createContext, useContext } from "react";

import { commands, type Commands } from "./commands";

export const ApiContext = createContext<Commands>(commands);

export function useApi(): Commands {
  return useContext(ApiContext);
}
