import { describe, expect, it } from "vitest";
import cases from "./allergy-name-cases.json";
import { EMPTY_PRESCRIPTION, allergyHints, namesMatch, substanceWords } from "./prescribing";
import { makeAllergy } from "../test/patients";

describe("the allergy name rule (the server's: app/patients/allergy_check.py)", () => {
  it.each(cases)("$allergy vs $drug -> $match", ({ allergy, drug, match }) => {
    expect(namesMatch(allergy, drug)).toBe(match);
  });

  it("leaves out doses, units, forms and filler; folds case and accents", () => {
    expect([...substanceWords("Allergy to Paracétamol 500 MG Oral Tablets (substance)")]).toEqual(["paracetamol"]);
  });
});

describe("allergyHints", () => {
  const sulfa = makeAllergy({
    id: "s1",
    code: { system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: "10180", display: "Sulfamethoxazole" },
  });

  it("an uncoded drug named like an allergy is hinted by name; the same code by code", () => {
    expect(allergyHints([sulfa], { ...EMPTY_PRESCRIPTION, drugName: "Sulfamethoxazole 400mg" })).toEqual([
      { allergy: sulfa, by: "name" },
    ]);
    expect(allergyHints([sulfa], { ...EMPTY_PRESCRIPTION, drugName: "Septra", ingredientCodes: "10180" })).toEqual([
      { allergy: sulfa, by: "code" },
    ]);
  });

  it("a different drug, or an inactive allergy, is not hinted", () => {
    expect(allergyHints([sulfa], { ...EMPTY_PRESCRIPTION, drugName: "Sulfasalazine 500 MG" })).toEqual([]);
    const inactive = { ...sulfa, clinical_status: "inactive" };
    expect(allergyHints([inactive], { ...EMPTY_PRESCRIPTION, drugName: "Sulfamethoxazole" })).toEqual([]);
  });
});
