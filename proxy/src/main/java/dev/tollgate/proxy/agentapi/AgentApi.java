package dev.tollgate.proxy.agentapi;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.agent.MeteringAgent;
import io.netty.buffer.ByteBufAllocator;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.json.jackson2.JacksonMcpJsonMapper;
import io.modelcontextprotocol.json.schema.jackson2.DefaultJsonSchemaValidator;
import io.modelcontextprotocol.server.McpServer;
import io.modelcontextprotocol.spec.McpSchema;
import io.netty.handler.codec.http.FullHttpResponse;
import java.time.Clock;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The agent API on the proxy's client port, authenticated by the agent's own API key: the escrow REST API
 * under {@code /api/v1/} ({@link EscrowRoutes}) and the same operations as MCP tools ({@link EscrowTools}) at
 * {@code /mcp} (stateless Streamable HTTP, {@link McpTransport}, served by the official MCP Java SDK). These paths are answered by Tollgate itself and never reach
 * an upstream.
 *
 * <p>Threading: {@link #answerAsync} is called on the client's event loop with a request already copied out of
 * Netty's buffers; ledger work runs on the agent escrow thread, and the reply is handed back on the event loop.
 */
public final class AgentApi {
    private static final Logger LOG = Logger.getLogger(AgentApi.class.getName());
    /** The MCP SDK logs every client's initialize at INFO: kept to warnings (held here so the level sticks). */
    private static final Logger MCP_SDK_LOG = Logger.getLogger("io.modelcontextprotocol");

    static {
        MCP_SDK_LOG.setLevel(Level.WARNING);
    }
    static final String REST_PREFIX = "/api/v1/";

    static final String MCP_PATH = "/mcp";

    private final SettlementService settlement;
    private final EscrowRoutes escrow;
    private final McpTransport mcp;

    public AgentApi(SettlementService settlement, MeteringAgent metering, Clock clock) {
        this.settlement = settlement;
        EscrowCalls calls = new EscrowCalls(settlement.agentEscrows(), clock);
        this.escrow = new EscrowRoutes(calls);
        McpJsonMapper json = new JacksonMcpJsonMapper(new ObjectMapper());
        this.mcp = new McpTransport(json);
        // The server registers itself as the transport's handler; the transport is what requests reach.
        McpServer.async(mcp).serverInfo("tollgate", "0.1.0")
                .instructions("Escrows between agents on Tollgate's ledger, paid in USDC (amounts are decimal "
                        + "strings, exact to 6 decimals), and your metered usage.")
                .capabilities(McpSchema.ServerCapabilities.builder().tools(false).build())
                .jsonMapper(json).jsonSchemaValidator(new DefaultJsonSchemaValidator())
                .tools(new EscrowTools(calls, metering, json).all()).build();
    }

    /** Whether a canonical path belongs to the agent API (and so never goes upstream). */
    public static boolean handles(String path) {
        return path.startsWith(REST_PREFIX) || path.equals("/api/v1") || path.equals(MCP_PATH);
    }


    /** Answers off the event loop; {@code reply} runs on {@code loop} with the response (it owns it). */
    public void answerAsync(AgentRequest r, ByteBufAllocator alloc, Executor loop, Consumer<FullHttpResponse> reply) {
        CompletableFuture<ApiAnswer> answer;
        try {
            answer = answer(r);
        } catch (RuntimeException e) {
            answer = CompletableFuture.failedFuture(e);
        }
        answer.whenComplete((a, err) -> {
            ApiAnswer out = a;
            if (err != null) {
                LOG.log(Level.WARNING, "agent API request " + r.requestId() + " failed", err);
                out = ApiErrors.answer("unavailable", "The escrow ledger is unavailable right now; retry (with the "
                        + "same Idempotency-Key).");
            }
            ApiAnswer done = out;
            loop.execute(() -> reply.accept(done.toResponse(alloc, r.requestId())));
        });
    }

    private CompletableFuture<ApiAnswer> answer(AgentRequest r) {
        if (!settlement.config().backend().equals("embedded")) {
            return CompletableFuture.completedFuture(ApiErrors.answer("not_supported", "The agent escrow API needs "
                    + "the embedded ledger (settlement.backend: embedded)."));
        }
        return r.path().equals(MCP_PATH) ? mcp.handle(r) : escrow.answer(r);
    }
}
