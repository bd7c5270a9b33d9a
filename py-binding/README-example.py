import tempfile
import leasekit

with tempfile.TemporaryDirectory() as folder, leasekit.LeaseStore(f"{folder}/leases.db") as store:
    lease = store.acquire("project", "apollo", owner="alice", session_id="tab-1", interval_ms=30000)
    print(lease.fence, lease.expires_at)  # 1, 30 s x 3 beats from now, UTC
    try:
        store.acquire("project", "apollo", owner="bob", session_id="laptop")
    except leasekit.LeaseHeld as refusal:
        print("held by", refusal.holder.owner, "until", refusal.holder.expires_at)
    print(store.release("project", "apollo", lease.token))  # Release(released=True, ...)
