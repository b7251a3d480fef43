// The JSON API of chainrule.playground.server (same origin: nothing else is ever fetched).
export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.parameter = body ? body.parameter : null;
  }
}

export async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new ApiError(0, { error: 'the playground server does not answer: is `chainrule playground` still running?' });
  }
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = { error: `the server sent no JSON (HTTP ${response.status})` };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
