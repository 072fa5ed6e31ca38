// Validates Weft's OpenAPI document, and optionally real responses against it.
//
//   node validate_openapi.mjs --modules <dir with node_modules> <openapi.json> [--responses <samples.json>]
//
// 1. @apidevtools/swagger-parser: the document against the OpenAPI 3.1 schema, with every $ref
//    resolved.
// 2. What swagger-parser leaves out for 3.x: unique operationIds, path templates and their path
//    parameters, duplicate parameters, security schemes that exist, and every schema compiled by
//    Ajv (JSON Schema 2020-12, strict: unknown keywords and malformed schemas are errors).
// 3. --responses: a JSON array of {method, path, status, content_type, body}; each body must
//    match the schema the document gives for that operation, status and media type.
//
// Exit status 0 when everything holds; otherwise 1 (2 for usage or setup errors) with every
// problem found printed on stderr.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

function usage(message) {
  console.error(`validate_openapi: ${message}`);
  console.error("usage: node validate_openapi.mjs --modules <dir> <openapi.json> [--responses <samples.json>]");
  process.exit(2);
}

const args = process.argv.slice(2);
let modulesDir = "";
let docFile = "";
let samplesFile = "";
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--modules") modulesDir = args[++i] ?? "";
  else if (args[i] === "--responses") samplesFile = args[++i] ?? "";
  else if (!docFile) docFile = args[i];
  else usage(`unexpected argument '${args[i]}'`);
}
if (!modulesDir || !docFile) usage("--modules and the document are required");

// The packages live in the build tree (tests/api/npm_install.cmake), not next to this script.
const require = createRequire(path.join(path.resolve(modulesDir), "package.json"));
let SwaggerParser, Ajv2020;
try {
  SwaggerParser = require("@apidevtools/swagger-parser");
  Ajv2020 = require("ajv/dist/2020").default;
} catch (e) {
  console.error(`validate_openapi: cannot load the validator packages from ${modulesDir}: ${e.message}`);
  console.error("validate_openapi: run the CTest fixture openapi_npm_install (or scripts/test.sh) first");
  process.exit(2);
}

function readJson(file, what) {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    usage(`cannot read the ${what} ${file}: ${e.message}`);
  }
}

const doc = readJson(docFile, "document");
const problems = [];

// ---- 1. the OpenAPI 3.1 schema ----------------------------------------------------------------
try {
  // validate() dereferences in place: give it a copy.
  await SwaggerParser.validate(structuredClone(doc));
} catch (e) {
  problems.push(`swagger-parser: ${e.message}`);
}

// ---- 2. what the 3.1 schema cannot say ---------------------------------------------------------
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

// Resolves a local "#/components/..." reference (one level is all the document uses).
function deref(obj) {
  if (!obj || typeof obj.$ref !== "string") return obj;
  const parts = obj.$ref.replace(/^#\//, "").split("/");
  let cur = doc;
  for (const p of parts) cur = cur?.[p.replace(/~1/g, "/").replace(/~0/g, "~")];
  if (cur === undefined) problems.push(`unresolved $ref ${obj.$ref}`);
  return cur ?? {};
}

const schemeNames = new Set(Object.keys(doc.components?.securitySchemes ?? {}));
const operationIds = new Map();
for (const [p, item] of Object.entries(doc.paths ?? {})) {
  const templated = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
  for (const method of METHODS) {
    const op = item[method];
    if (!op) continue;
    const where = `${method.toUpperCase()} ${p}`;
    if (!op.operationId) problems.push(`${where}: no operationId`);
    else if (operationIds.has(op.operationId))
      problems.push(`${where}: operationId '${op.operationId}' is also used by ${operationIds.get(op.operationId)}`);
    else operationIds.set(op.operationId, where);

    const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map(deref);
    const seen = new Set();
    for (const prm of params) {
      const key = `${prm.in}:${prm.in === "header" ? String(prm.name).toLowerCase() : prm.name}`;
      if (seen.has(key)) problems.push(`${where}: parameter ${prm.name} (${prm.in}) is declared twice`);
      seen.add(key);
      if (prm.in === "path") {
        if (!templated.includes(prm.name)) problems.push(`${where}: path parameter '${prm.name}' is not in the path`);
        if (prm.required !== true) problems.push(`${where}: path parameter '${prm.name}' must be required`);
      }
    }
    for (const t of templated)
      if (!params.some((prm) => prm.in === "path" && prm.name === t))
        problems.push(`${where}: {${t}} has no path parameter`);

    for (const req of op.security ?? doc.security ?? [])
      for (const name of Object.keys(req))
        if (!schemeNames.has(name)) problems.push(`${where}: unknown security scheme '${name}'`);
    if (!op.responses || Object.keys(op.responses).length === 0) problems.push(`${where}: no responses`);
  }
}

// Ajv sees each component schema under its own id; the document's "#/components/schemas/X"
// references are rewritten to those ids.
const BASE = "https://weft.invalid/openapi/schemas/";
function rewriteRefs(value) {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "$ref" && typeof v === "string" && v.startsWith("#/components/schemas/"))
        out[k] = BASE + v.slice("#/components/schemas/".length);
      else out[k] = rewriteRefs(v);
    }
    return out;
  }
  return value;
}

const ajv = new Ajv2020({ strict: true, strictTypes: false, allowUnionTypes: true, allErrors: true });
// OpenAPI's integer formats (the 3.1 dialect's format vocabulary annotates; these check ranges).
ajv.addFormat("int32", { type: "number", validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat("int64", { type: "number", validate: (n) => Number.isInteger(n) });
// OpenAPI-only keywords that may appear in the document's schemas.
for (const k of ["discriminator", "xml", "externalDocs", "example"]) ajv.addKeyword(k);

for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
  try {
    const s = rewriteRefs(schema);
    ajv.addSchema({ ...s, $id: BASE + name });
  } catch (e) {
    problems.push(`components/schemas/${name}: ${e.message}`);
  }
}
for (const name of Object.keys(doc.components?.schemas ?? {})) {
  try {
    ajv.getSchema(BASE + name);
  } catch (e) {
    problems.push(`components/schemas/${name}: ${e.message}`);
  }
}

const compiled = new Map();
function compile(schema, where) {
  const key = JSON.stringify(schema);
  if (compiled.has(key)) return compiled.get(key);
  let v = null;
  try {
    v = ajv.compile(rewriteRefs(schema));
  } catch (e) {
    problems.push(`${where}: schema does not compile: ${e.message}`);
  }
  compiled.set(key, v);
  return v;
}

for (const [p, item] of Object.entries(doc.paths ?? {})) {
  for (const method of METHODS) {
    const op = item[method];
    if (!op) continue;
    const where = `${method.toUpperCase()} ${p}`;
    for (const prm of (op.parameters ?? []).map(deref))
      if (prm.schema !== undefined) compile(prm.schema, `${where} parameter ${prm.name}`);
    for (const [mt, media] of Object.entries(deref(op.requestBody)?.content ?? {}))
      if (media.schema !== undefined) compile(media.schema, `${where} request body ${mt}`);
    for (const [status, resp] of Object.entries(op.responses ?? {})) {
      const r = deref(resp);
      for (const [mt, media] of Object.entries(r.content ?? {}))
        if (media.schema !== undefined) compile(media.schema, `${where} ${status} ${mt}`);
      for (const [h, header] of Object.entries(r.headers ?? {})) {
        const hd = deref(header);
        if (hd.schema !== undefined) compile(hd.schema, `${where} ${status} header ${h}`);
      }
    }
  }
}

// ---- 3. real responses -------------------------------------------------------------------------
let checked = 0;
if (samplesFile) {
  const samples = readJson(samplesFile, "responses file");
  for (const s of samples) {
    const where = `${s.method} ${s.path} -> ${s.status}`;
    const op = doc.paths?.[s.path]?.[String(s.method).toLowerCase()];
    if (!op) {
      problems.push(`${where}: the document has no such operation`);
      continue;
    }
    const resp = op.responses?.[String(s.status)] ?? op.responses?.default;
    if (!resp) {
      problems.push(`${where}: status ${s.status} is not documented for this operation`);
      continue;
    }
    const r = deref(resp);
    const base = String(s.content_type ?? "").split(";")[0].trim().toLowerCase();
    const content = r.content ?? {};
    if (!base) {
      if (Object.keys(content).length > 0) problems.push(`${where}: no Content-Type, but the document gives content`);
      checked++;
      continue;
    }
    const key = Object.keys(content).find((k) => k.split(";")[0].trim().toLowerCase() === base) ??
      Object.keys(content).find((k) => k === "*/*");
    if (!key) {
      problems.push(`${where}: Content-Type ${base} is not documented (documented: ${Object.keys(content).join(", ") || "none"})`);
      continue;
    }
    const schema = content[key].schema;
    if (schema !== undefined && base === "application/json") {
      const validate = compile(schema, `${where} ${key}`);
      if (validate && !validate(s.body)) {
        const errs = validate.errors.map((e) => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`);
        problems.push(`${where}: the body does not match the documented schema:\n    ${errs.join("\n    ")}\n    body: ${JSON.stringify(s.body).slice(0, 500)}`);
      }
    }
    checked++;
  }
}

if (problems.length > 0) {
  console.error(`validate_openapi: ${docFile}: ${problems.length} problem(s):`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
const ops = operationIds.size;
console.log(`validate_openapi: ${docFile} is a valid OpenAPI ${doc.openapi} document (${ops} operations)` +
  (samplesFile ? `; ${checked} response(s) match it` : ""));
