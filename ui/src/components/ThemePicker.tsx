// Header control: the colour theme (as the system, light, dark).

import { useState } from "react";

import { applyTheme, savedChoice, type ThemeChoice } from "../hooks/theme";

const CHOICES: { key: ThemeChoice; label: string }[] = [
  { key: "system", label: "Auto" },
  { key: "light", label: "Light" },
  { key: "dark", label: "Dark" },
];

export function ThemePicker() {
  const [choice, setChoice] = useState<ThemeChoice>(savedChoice);
  return (
    <div className="segmented theme-picker" role="radiogroup" aria-label="Colour theme">
      {CHOICES.map((c) => (
        <button
          key={c.key}
          type="button"
          role="radio"
          className="segment"
          aria-checked={choice === c.key}
          data-testid={`theme-${c.key}`}
          onClick={() => {
            setChoice(c.key);
            applyTheme(c.key);
          }}
        >
          {c.label}
        </button>
      ))}
    </div>
  );
}
