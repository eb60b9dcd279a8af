package dev.tollgate.proxy.admin;

/** What an admin route answers: a status, a content type and a UTF-8 body. */
public record AdminResponse(int status, String contentType, String body) {
    public static final String JSON = "application/json";
    public static final String PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8";

    public static AdminResponse json(int status, String body) {
        return new AdminResponse(status, JSON, body);
    }

    public static AdminResponse notFound(String what) {
        return json(404, dev.tollgate.proxy.http.OpenAiError.json(what, "not_found_error", null, null));
    }

    public static AdminResponse badRequest(String what, String param) {
        return json(400, dev.tollgate.proxy.http.OpenAiError.json(what, "invalid_request_error", param, null));
    }
}
