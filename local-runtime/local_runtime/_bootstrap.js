// Worker process for Node.js functions: the protocol of _bootstrap.py (config in _LOCAL_RUNTIME_WORKER,
// requests as JSON lines on stdin, answers as JSON lines on the pipe `fd`), the handler loaded as Lambda's
// Node.js runtime does (CommonJS or ES module; async, promise or callback), console output as Lambda
// writes it: "<time>\t<request id>\t<LEVEL>\t<message>" (text) or a JSON record (JSON log format).
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const readline = require("node:readline");
const util = require("node:util");
const { pathToFileURL } = require("node:url");

const { registerHooks } = require("node:module");

// ES modules ignore NODE_PATH, yet Lambda (Node.js 18 and later) resolves their bare imports from layers'
// nodejs/node_modules too: a resolve hook retries a package not found from each layer folder.
const layerFolders = (process.env.NODE_PATH || "").split(path.delimiter).filter(Boolean);
if (layerFolders.length > 0) {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      try {
        return nextResolve(specifier, context);
      } catch (error) {
        if (error.code !== "ERR_MODULE_NOT_FOUND" || /^[./]|^[a-z]+:/.test(specifier)) throw error;
        for (const folder of layerFolders) {
          try {
            return nextResolve(specifier, { ...context, parentURL: pathToFileURL(path.join(folder, "index.js")).href });
          } catch {
            // not in this layer
          }
        }
        throw error;
      }
    },
  });
}

const config = JSON.parse(process.env._LOCAL_RUNTIME_WORKER);
delete process.env._LOCAL_RUNTIME_WORKER;
const END_OF_OUTPUT = "\x1e\n"; // the runtime cuts the function's output per invocation here
const jsonLogs = (process.env.AWS_LAMBDA_LOG_FORMAT || "").toUpperCase() === "JSON";
let requestId;

function send(message) {
  fs.writeSync(config.fd, JSON.stringify(message) + "\n");
}

function errorOf(error, type) {
  const e = error instanceof Error ? error : new Error(String(error));
  return { errorType: type || e.name || "Error", errorMessage: e.message, trace: String(e.stack || "").split("\n") };
}

for (const [method, level] of [["log", "INFO"], ["info", "INFO"], ["warn", "WARN"], ["error", "ERROR"], ["debug", "DEBUG"], ["trace", "TRACE"]]) {
  const stream = level === "ERROR" || level === "WARN" ? process.stderr : process.stdout;
  console[method] = (...args) => {
    const message = util.format(...args);
    const timestamp = new Date().toISOString();
    const line = jsonLogs
      ? JSON.stringify({ timestamp, level, requestId, message })
      : `${timestamp}\t${requestId || "undefined"}\t${level}\t${message.replace(/\n/g, "\r")}`;
    stream.write(line + "\n");
  };
}

async function loadHandler() {
  const [modulePath, exportName] = [config.handler.slice(0, config.handler.lastIndexOf(".")), config.handler.slice(config.handler.lastIndexOf(".") + 1)];
  const base = path.resolve(config.paths[0], modulePath);
  const file = [".js", ".mjs", ".cjs"].map((ext) => base + ext).find((candidate) => fs.existsSync(candidate));
  if (!file) {
    throw Object.assign(new Error(`Cannot find module '${modulePath}'`), { lambdaType: "Runtime.ImportModuleError" });
  }
  const loaded = await import(pathToFileURL(file).href);
  const handler = loaded[exportName] ?? loaded.default?.[exportName];
  if (typeof handler !== "function") {
    throw Object.assign(new Error(`${config.handler} is undefined or not exported`), { lambdaType: "Runtime.HandlerNotFound" });
  }
  return handler;
}

function call(handler, event, context) {
  return new Promise((resolve, reject) => {
    const done = (error, result) => (error ? reject(error) : resolve(result));
    const returned = handler(event, context, done);
    if (returned && typeof returned.then === "function") returned.then(resolve, reject);
    else if (handler.length < 3) resolve(returned);
  });
}

async function main() {
  const started = performance.now();
  let handler;
  try {
    handler = await loadHandler();
  } catch (error) {
    send({ type: "init_error", error: errorOf(error, error.lambdaType) });
    process.exit(1);
  }
  send({ type: "ready", init_ms: performance.now() - started });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const request = JSON.parse(line);
    requestId = request.request_id;
    process.env._X_AMZN_TRACE_ID = request.trace_id;
    const context = {
      functionName: config.function_name,
      functionVersion: "$LATEST",
      invokedFunctionArn: request.invoked_function_arn || config.function_arn,
      memoryLimitInMB: String(config.memory_mb),
      awsRequestId: requestId,
      logGroupName: config.log_group,
      logStreamName: config.log_stream,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, Math.floor(request.deadline_ms - Date.now())),
    };
    process.stdout.write(`START RequestId: ${requestId} Version: $LATEST\n`);
    let answer;
    try {
      const result = await call(handler, request.event, context);
      answer = { type: "result", result: result === undefined ? null : result };
    } catch (error) {
      const described = errorOf(error);
      console.error(`Invoke Error \t${JSON.stringify(described)}`);
      answer = { type: "error", error: described };
    }
    process.stdout.write(END_OF_OUTPUT); // pipes are written synchronously on Linux: all output is before it
    send(answer);
  }
}

main();
