package dev.tollgate.proxy.admin;

import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;

/**
 * A group of admin endpoints. Runs on the admin executor, never on a proxy event loop, so it may read the
 * embedded database.
 */
public interface AdminRoutes {
    /** The answer for this request, or null when no route of this group matches. */
    AdminResponse handle(HttpMethod method, QueryStringDecoder uri, byte[] body);
}
