package dev.tollgate.proxy.control;

import dev.tollgate.escrow.ledger.Statement;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.escrow.settle.SettlementView;
import dev.tollgate.proto.v1.ControlGrpc;
import dev.tollgate.proto.v1.GetSettlementRequest;
import dev.tollgate.proto.v1.GetStatementRequest;
import dev.tollgate.proto.v1.Settlement;
import dev.tollgate.proto.v1.StreamUsageRequest;
import dev.tollgate.proto.v1.SubmitScoreRequest;
import dev.tollgate.proto.v1.SubmitScoreResponse;
import dev.tollgate.proto.v1.UsageEvent;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/**
 * The control operations over gRPC: quality scores, settlements, statements and the live usage feed. The
 * same operations as the admin HTTP API.
 *
 * <p>Threading: called on gRPC's executor; the settlement service is thread-safe.
 */
final class ControlService extends ControlGrpc.ControlImplBase {
    private final SettlementService settlement;
    private final UsageFeed feed;

    ControlService(SettlementService settlement, UsageFeed feed) {
        this.settlement = settlement;
        this.feed = feed;
    }

    @Override
    public void submitScore(SubmitScoreRequest req, StreamObserver<SubmitScoreResponse> out) {
        try {
            boolean known = settlement.score(req.getRequestId(), req.getScore());
            if (!known) {
                out.onError(Status.NOT_FOUND.withDescription("no settlement for " + req.getRequestId()).asException());
                return;
            }
            out.onNext(SubmitScoreResponse.newBuilder().setAccepted(true).build());
            out.onCompleted();
        } catch (IllegalArgumentException | ArithmeticException e) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("a score is a decimal between 0 and 1").asException());
        }
    }

    @Override
    public void getSettlement(GetSettlementRequest req, StreamObserver<Settlement> out) {
        SettlementView s = settlement.settlement(req.getRequestId()).orElse(null);
        if (s == null) {
            out.onError(Status.NOT_FOUND.withDescription("no settlement for " + req.getRequestId()).asException());
            return;
        }
        out.onNext(Settlement.newBuilder().setRequestId(s.requestId()).setState(s.state())
                .setCostMicros(s.costMicros()).setReleasedMicros(s.releasedMicros())
                .setRefundedMicros(s.refundedMicros()).setBonusMicros(s.bonusMicros())
                .setEscrowId(s.escrowId() == null ? "" : s.escrowId()).build());
        out.onCompleted();
    }

    @Override
    public void getStatement(GetStatementRequest req, StreamObserver<dev.tollgate.proto.v1.Statement> out) {
        if (req.getAgent().isEmpty()) {
            out.onError(Status.INVALID_ARGUMENT.withDescription("agent is required").asException());
            return;
        }
        Statement s = settlement.statement(req.getAgent());
        out.onNext(dev.tollgate.proto.v1.Statement.newBuilder().setAgent(s.agent()).setSpentMicros(s.spentMicros())
                .setEarnedMicros(s.earnedMicros()).setFeesMicros(s.feesMicros()).setRefundsMicros(s.refundedMicros())
                .setBonusMicros(s.bonusPaidMicros() + s.bonusEarnedMicros()).setBalanceMicros(s.balanceMicros())
                .setHeldMicros(s.heldMicros()).build());
        out.onCompleted();
    }

    @Override
    public void streamUsage(StreamUsageRequest req, StreamObserver<UsageEvent> out) {
        feed.subscribe(req.getAccount(), (ServerCallStreamObserver<UsageEvent>) out);
    }
}
