package dev.tollgate.proxy.agentapi;

import io.modelcontextprotocol.common.McpTransportContext;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.server.McpStatelessServerHandler;
import io.modelcontextprotocol.spec.McpSchema;
import io.modelcontextprotocol.spec.McpStatelessServerTransport;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.logging.Level;
import java.util.logging.Logger;
import reactor.core.publisher.Mono;

/**
 * The MCP SDK's stateless Streamable HTTP server transport, over Tollgate's Netty pipeline instead of a
 * servlet container: the same protocol as the SDK's {@code HttpServletStatelessServerTransport} (a POST carries
 * one JSON-RPC request, answered with one {@code application/json} response; a notification is answered 202;
 * GET and DELETE are 405, since a stateless server opens no event stream and keeps no session), with the
 * caller's account (from its API key, checked before this transport sees the request) in the
 * {@link McpTransportContext} under {@link #ACCOUNT}.
 *
 * <p>Threading: {@link #handle} is called on a client event loop and never blocks it: the SDK's handler
 * returns a {@link Mono}, subscribed here and completed wherever the tool completes it (the agent escrow
 * thread for ledger tools).
 */
final class McpTransport implements McpStatelessServerTransport {
    private static final Logger LOG = Logger.getLogger(McpTransport.class.getName());
    /** Transport context key of the caller's account. */
    static final String ACCOUNT = "tollgate.account";

    private final McpJsonMapper json;
    private volatile McpStatelessServerHandler handler;
    private volatile boolean closing;

    McpTransport(McpJsonMapper json) {
        this.json = json;
    }

    @Override
    public void setMcpHandler(McpStatelessServerHandler mcpHandler) {
        this.handler = mcpHandler;
    }

    @Override
    public Mono<Void> closeGracefully() {
        return Mono.fromRunnable(() -> closing = true);
    }

    CompletableFuture<ApiAnswer> handle(AgentRequest r) {
        if (!r.method().equals("POST")) {
            return done(ApiAnswer.json(405, rpcError(null, McpSchema.ErrorCodes.INVALID_REQUEST,
                    "This MCP endpoint is stateless: POST one JSON-RPC message; there is no event stream to GET "
                            + "and no session to DELETE.")).withHeader("allow", "POST"));
        }
        if (closing || handler == null) {
            return done(ApiAnswer.json(503, rpcError(null, McpSchema.ErrorCodes.INTERNAL_ERROR,
                    "The server is shutting down.")));
        }
        String accept = r.header("accept");
        if (accept == null || !(accept.contains("application/json") && accept.contains("text/event-stream"))) {
            return done(ApiAnswer.json(400, rpcError(null, McpSchema.ErrorCodes.INVALID_REQUEST,
                    "Both application/json and text/event-stream required in Accept header")));
        }
        McpSchema.JSONRPCMessage message;
        try {
            message = McpSchema.deserializeJsonRpcMessage(json, new String(r.body(), StandardCharsets.UTF_8));
        } catch (java.io.IOException | RuntimeException e) {
            return done(ApiAnswer.json(400, rpcError(null, McpSchema.ErrorCodes.PARSE_ERROR,
                    "Invalid message format")));
        }
        McpTransportContext context = McpTransportContext.create(Map.of(ACCOUNT, r.account()));
        if (message instanceof McpSchema.JSONRPCRequest request) {
            return handler.handleRequest(context, request)
                    .contextWrite(ctx -> ctx.put(McpTransportContext.KEY, context))
                    .map(response -> ApiAnswer.json(200, write(response)))
                    .onErrorResume(e -> {
                        LOG.log(Level.WARNING, "MCP request " + request.method() + " failed", e);
                        return Mono.just(ApiAnswer.json(500, rpcError(request.id(),
                                McpSchema.ErrorCodes.INTERNAL_ERROR, "Failed to handle request: " + e.getMessage())));
                    })
                    .defaultIfEmpty(ApiAnswer.json(500, rpcError(request.id(), McpSchema.ErrorCodes.INTERNAL_ERROR,
                            "No response.")))
                    .toFuture();
        }
        if (message instanceof McpSchema.JSONRPCNotification notification) {
            return handler.handleNotification(context, notification)
                    .contextWrite(ctx -> ctx.put(McpTransportContext.KEY, context))
                    .then(Mono.just(new ApiAnswer(202, "application/json", "", Map.of())))
                    .onErrorResume(e -> Mono.just(ApiAnswer.json(500, rpcError(null,
                            McpSchema.ErrorCodes.INTERNAL_ERROR, "Failed to handle notification."))))
                    .toFuture();
        }
        return done(ApiAnswer.json(400, rpcError(null, McpSchema.ErrorCodes.INVALID_REQUEST,
                "The server accepts either requests or notifications")));
    }

    private String write(Object o) {
        try {
            return json.writeValueAsString(o);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A JSON-RPC error response; {@code id} is null when the request's id is unknown (JSON-RPC 2.0, 5.1). */
    private String rpcError(Object id, int code, String message) {
        if (id != null) {
            return write(new McpSchema.JSONRPCResponse(McpSchema.JSONRPC_VERSION, id, null,
                    new McpSchema.JSONRPCResponse.JSONRPCError(code, message, null)));
        }
        com.fasterxml.jackson.databind.node.ObjectNode e = EscrowJson.MAPPER.createObjectNode()
                .put("jsonrpc", McpSchema.JSONRPC_VERSION).putNull("id");
        e.putObject("error").put("code", code).put("message", message);
        return e.toString();
    }

    private static CompletableFuture<ApiAnswer> done(ApiAnswer a) {
        return CompletableFuture.completedFuture(a);
    }
}
