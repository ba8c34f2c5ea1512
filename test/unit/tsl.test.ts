import assert from "node:assert/strict";
import { parseThingModel, EMPTY_THING_MODEL } from "../../internal/domain/index.js";

const model = {
  properties: [
    { identifier: "temperature", name: "Temperature", accessMode: "r", dataType: { type: "float", specs: { min: "-40", max: "120", unit: "°C", step: "0.1" } } },
    { identifier: "mode", name: "Mode", accessMode: "rw", dataType: { type: "enum", specs: { "0": "eco", "1": "boost" } } },
    { identifier: "on", name: "Power", accessMode: "rw", dataType: { type: "bool", specs: { "0": "off", "1": "on" } } },
    {
      identifier: "location",
      name: "Location",
      accessMode: "r",
      dataType: { type: "struct", specs: [{ identifier: "lat", name: "Lat", dataType: { type: "double", specs: {} } }] },
    },
    { identifier: "history", name: "History", accessMode: "r", dataType: { type: "array", specs: { size: "10", item: { type: "int", specs: {} } } } },
  ],
  events: [{ identifier: "overheat", name: "Overheat", type: "alert", outputData: [{ identifier: "t", name: "T", dataType: { type: "float", specs: {} } }] }],
  services: [{ identifier: "reboot", name: "Reboot", callType: "async", inputData: [{ identifier: "delay", name: "Delay", dataType: { type: "int", specs: { min: 0, max: 60 } } }] }],
};

describe("thing model (TSL) validation", () => {
  it("accepts a full model and returns it normalised", () => {
    const out = JSON.parse(parseThingModel(JSON.stringify(model)));
    assert.equal(out.properties.length, 5);
    assert.deepEqual(out.services[0].outputData, []);
  });

  it("the empty model is valid", () => {
    assert.equal(parseThingModel(EMPTY_THING_MODEL), EMPTY_THING_MODEL);
  });

  const bad: [string, unknown, RegExp][] = [
    ["not JSON", "{", /tsl_json: is not valid JSON/],
    ["min above max", { properties: [{ identifier: "t", name: "T", accessMode: "r", dataType: { type: "int", specs: { min: 5, max: 1 } } }] }, /tsl_json\.properties\[0\]\.dataType/],
    ["unknown data type", { properties: [{ identifier: "t", name: "T", accessMode: "r", dataType: { type: "blob" } }] }, /tsl_json\.properties\[0\]\.dataType/],
    ["bad identifier", { properties: [{ identifier: "t-1", name: "T", accessMode: "r", dataType: { type: "date", specs: {} } }] }, /properties\[0\]\.identifier/],
    ["bad access mode", { properties: [{ identifier: "t", name: "T", accessMode: "w", dataType: { type: "date", specs: {} } }] }, /accessMode/],
    ["duplicate identifier", { properties: [{ identifier: "x", name: "X", accessMode: "r", dataType: { type: "date", specs: {} } }], services: [{ identifier: "x", name: "S", callType: "sync" }] }, /services\[0\]\.identifier.*already used by properties\[0\]/],
    ["unknown top-level key", { props: [] }, /tsl_json/],
    ["text without length", { properties: [{ identifier: "s", name: "S", accessMode: "r", dataType: { type: "text", specs: {} } }] }, /length/],
    ["enum with non-integer key", { properties: [{ identifier: "e", name: "E", accessMode: "r", dataType: { type: "enum", specs: { a: "x" } } }] }, /enum keys must be integers/],
    ["array too large", { properties: [{ identifier: "a", name: "A", accessMode: "r", dataType: { type: "array", specs: { size: 9999, item: { type: "int", specs: {} } } } }] }, /size/],
  ];
  for (const [what, doc, re] of bad) {
    it(`refuses a model with ${what}, naming the path`, () => {
      assert.throws(() => parseThingModel(typeof doc === "string" ? doc : JSON.stringify(doc)), re);
    });
  }
});
