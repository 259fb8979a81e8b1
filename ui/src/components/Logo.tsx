// The product mark: the same drawing as icons/icon.svg (two stacked servers, a pulse line).

import { useId } from "react";

export function Logo({ size = 28 }: { size?: number }) {
  const gradient = `logo-${useId().replace(/:/g, "")}`;
  return (
    <svg width={size} height={size} viewBox="48 48 928 928" aria-hidden="true" className="logo">
      <defs>
        <linearGradient id={gradient} x1="0" y1="0" x2="1" y2="1">
          <stop offset="0" stopColor="#1d4ed8" />
          <stop offset="1" stopColor="#0f766e" />
        </linearGradient>
      </defs>
      <rect x="48" y="48" width="928" height="928" rx="208" fill={`url(#${gradient})`} />
      <rect x="208" y="236" width="608" height="240" rx="56" fill="#ffffff" />
      <rect x="208" y="548" width="608" height="240" rx="56" fill="#e8eef9" />
      <circle cx="316" cy="356" r="46" fill="#16a34a" />
      <circle cx="316" cy="668" r="46" fill="#2563eb" />
      <path
        d="M420 356 H500 L546 270 L606 442 L650 356 H716"
        fill="none"
        stroke="#1d4ed8"
        strokeWidth="40"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
      <path d="M420 668 H716" fill="none" stroke="#94a3b8" strokeWidth="40" strokeLinecap="round" />
    </svg>
  );
}
