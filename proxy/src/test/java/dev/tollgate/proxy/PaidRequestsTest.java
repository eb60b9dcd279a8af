package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.errors.OpenAIServiceException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.tollgate.escrow.settle.SettlementView;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.proto.v1.ControlGrpc;
import dev.tollgate.proto.v1.GetSettlementRequest;
import dev.tollgate.proto.v1.GetStatementRequest;
import dev.tollgate.proto.v1.SubmitScoreRequest;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.PaidSetup;
import dev.tollgate.testing.ProxyFixture;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Paid requests end to end with the OpenAI SDK: the per-request escrow pays exactly the metered cost and
 * refunds the rest, a failed upstream is refunded, an unfunded payer gets 402 before any upstream call, the
 * stream budget batches its releases, bonuses are paid; settlement is visible over HTTP and gRPC.
 */
class PaidRequestsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static ProxyFixture fx;
    static OpenAIClient payer;

    @BeforeAll
    static void start() throws Exception {
        fx = ProxyFixture.start(SimulatorConfig.defaults(), PaidSetup::apply);
        payer = OpenAIOkHttpClient.builder().baseUrl(fx.node.baseUrl()).apiKey(PaidSetup.PAY_KEY).maxRetries(0).build();
    }

    @AfterAll
    static void stop() {
        payer.close();
        fx.close();
    }

    private static ChatCompletionCreateParams.Builder chat(long max) {
        return ChatCompletionCreateParams.builder().model("tollgate-sim-1").addUserMessage("pay me per token")
                .maxTokens(max);
    }

    private static SettlementView settled(String id) {
        return Await.value(() -> {
            fx.node.settlement().settleNow();
            SettlementView v = fx.node.settlement().settlement(id).orElse(null);
            return v != null && (v.state().equals("settled") || v.state().equals("refunded")
                    || v.state().equals("released")) ? v : null;
        }, Duration.ofSeconds(10), "settlement of " + id);
    }

    @Test
    void perRequestPaysExactlyTheMeteredCostAndRefundsTheRest() {
        String id;
        try (HttpResponseFor<StreamResponse<ChatCompletionChunk>> raw =
                     payer.chat().completions().withRawResponse().createStreaming(chat(30).build());
             StreamResponse<ChatCompletionChunk> s = raw.parse()) {
            s.stream().forEach(c -> { });
            id = raw.headers().values("x-tollgate-request-id").get(0);
        }
        UsageRecord r = fx.record(id);
        SettlementView v = settled(id);
        long cost = PaidSetup.cost(r.promptTokens(), r.completionTokens());
        assertEquals(cost, v.costMicros());
        assertEquals(cost, v.releasedMicros());
        assertEquals(v.reservedMicros() - cost, v.refundedMicros());
        Await.until(() -> fx.node.settlement().settlement(id).orElseThrow().bonusMicros() == cost * 5 / 100,
                Duration.ofSeconds(10), "throughput bonus");
        assertTrue(fx.node.settlement().conservation().holds());
    }

    @Test
    void upstreamErrorIsRefundedInFull() throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":5}",
                "authorization", "Bearer " + PaidSetup.PAY_KEY, "x-sim-fault", "status:500");
        assertEquals(500, r.statusCode());
        SettlementView v = settled(r.headers().firstValue("x-tollgate-request-id").orElseThrow());
        assertEquals("refunded", v.state());
        assertEquals(0, v.releasedMicros());
        assertEquals(v.reservedMicros(), v.refundedMicros());
    }

    @Test
    void payerWhoCannotCoverTheLockGets402WithoutAnUpstreamCall() throws Exception {
        long before = fx.simulator.requestsServed();
        OpenAIClient poor = OpenAIOkHttpClient.builder().baseUrl(fx.node.baseUrl()).apiKey(PaidSetup.POOR_KEY)
                .maxRetries(0).build();
        try {
            OpenAIServiceException e = assertThrows(OpenAIServiceException.class,
                    () -> poor.chat().completions().create(chat(10).build()));
            assertEquals(402, e.statusCode());
            assertEquals("insufficient_balance", e.code().orElse(""));
        } finally {
            poor.close();
        }
        assertEquals(before, fx.simulator.requestsServed());
    }

    @Test
    void streamBudgetBatchesReleasesEveryThreeCalls() throws Exception {
        OpenAIClient streamer = OpenAIOkHttpClient.builder().baseUrl(fx.node.baseUrl())
                .apiKey(PaidSetup.STREAM_KEY).maxRetries(0).build();
        try {
            long total = 0;
            String last = null;
            String escrow = null;
            for (int i = 0; i < 4; i++) {
                HttpResponseFor<ChatCompletion> raw = streamer.chat().completions().withRawResponse()
                        .create(chat(10 + i).build());
                ChatCompletion c = raw.parse();
                total += c.usage().orElseThrow().promptTokens() * PaidSetup.PICO_PROMPT
                        + c.usage().orElseThrow().completionTokens() * PaidSetup.PICO_COMPLETION;
                last = raw.headers().values("x-tollgate-request-id").get(0);
                fx.record(last);
                String lastId = last;
                escrow = Await.value(() -> fx.node.settlement().settlement(lastId).map(SettlementView::escrowId)
                        .filter(x -> fx.node.settlement().settlement(lastId).orElseThrow().state().equals("batched")
                                || fx.node.settlement().settlement(lastId).orElseThrow().state().equals("released"))
                        .orElse(null), Duration.ofSeconds(10), "journal");
            }
            fx.node.settlement().settleNow();
            assertEquals("batched", fx.node.settlement().settlement(last).orElseThrow().state(),
                    "the fourth call waits for the next batch");
            fx.node.settlement().closeBudgets(PaidSetup.STREAMER);
            fx.node.settlement().settleNow();
            var state = fx.node.settlement().ledger().read(escrow);
            assertEquals(total / 1_000_000, state.releasedMicros(), "cost of the total, rounded once");
            assertEquals(state.lockedMicros() - state.releasedMicros(), state.refundedMicros());
        } finally {
            streamer.close();
        }
    }

    @Test
    void settlementOverTheAdminApiAndGrpc() throws Exception {
        HttpResponseFor<ChatCompletion> raw = payer.chat().completions().withRawResponse().create(chat(12).build());
        raw.parse();
        String id = raw.headers().values("x-tollgate-request-id").get(0);
        fx.record(id);
        SettlementView v = settled(id);
        String auth = "Bearer " + PaidSetup.ADMIN_TOKEN;
        JsonNode req = JSON.readTree(fx.get(fx.node.adminUrl() + "/admin/v1/requests/" + id, "authorization", auth).body());
        assertEquals(v.releasedMicros(), req.get("settlement").get("released_micros").asLong());
        HttpResponse<String> scored = fx.http.send(HttpRequest.newBuilder(
                        URI.create(fx.node.adminUrl() + "/admin/v1/requests/" + id + "/score"))
                .header("authorization", auth).POST(HttpRequest.BodyPublishers.ofString("{\"score\":\"0.95\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, scored.statusCode());
        long qualityBonus = v.costMicros() * 10 / 100;
        Await.until(() -> {
            fx.node.settlement().settleNow();
            // Not streamed: no tokens/s to judge, so the quality bonus is the only one.
            return fx.node.settlement().settlement(id).orElseThrow().bonusMicros() == qualityBonus;
        }, Duration.ofSeconds(10), "quality bonus");
        JsonNode escrow = JSON.readTree(fx.get(fx.node.adminUrl() + "/admin/v1/escrows/" + v.escrowId(),
                "authorization", auth).body());
        assertEquals("closed", escrow.get("status").asText());
        JsonNode statement = JSON.readTree(fx.get(fx.node.adminUrl() + "/admin/v1/statement?agent=" + PaidSetup.WORKER,
                "authorization", auth).body());
        // The worker earned at least this request's release net of the 1% fee, plus the quality bonus net of it.
        long earnedHere = v.releasedMicros() - v.releasedMicros() / 100 + qualityBonus - qualityBonus / 100 - 1;
        assertTrue(statement.get("earned_micros").asLong() >= earnedHere,
                statement.get("earned_micros").asLong() + " < " + earnedHere);
        assertEquals(401, fx.get(fx.node.adminUrl() + "/admin/v1/statement?agent=x").statusCode());

        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", fx.node.grpcPort()).usePlaintext().build();
        try {
            Metadata md = new Metadata();
            md.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), auth);
            var stub = ControlGrpc.newBlockingStub(ch).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(md));
            var s = stub.getSettlement(GetSettlementRequest.newBuilder().setRequestId(id).build());
            assertEquals(v.releasedMicros(), s.getReleasedMicros());
            assertTrue(stub.submitScore(SubmitScoreRequest.newBuilder().setRequestId(id).setScore("0.5").build())
                    .getAccepted());
            var st = stub.getStatement(GetStatementRequest.newBuilder().setAgent(PaidSetup.WORKER).build());
            // A 0.5 score pays no bonus: the gRPC statement equals the admin API's, to the micro.
            fx.node.settlement().settleNow();
            assertEquals(statement.get("earned_micros").asLong(), st.getEarnedMicros());
            StatusRuntimeException denied = assertThrows(StatusRuntimeException.class, () -> ControlGrpc
                    .newBlockingStub(ch).getSettlement(GetSettlementRequest.newBuilder().setRequestId(id).build()));
            assertEquals(io.grpc.Status.Code.UNAUTHENTICATED, denied.getStatus().getCode());
        } finally {
            ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
