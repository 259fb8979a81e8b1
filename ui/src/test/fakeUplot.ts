// Stands in for uPlot in component tests (happy-dom has no canvas): `vi.mock("uplot", () =>
// import("../test/fakeUplot"))`. The Chart component's own logic still runs.

export default class FakePlot {
  width = 0;
  setData() {}
  setScale() {}
  setSize() {}
  setSelect() {}
  batch(fn: () => void) {
    fn();
  }
  destroy() {}
}
