//! axum without any session layer: the baseline every variant is compared with.

use axum::Router;
use axum::routing::get;

async fn zero() -> &'static str {
    "0"
}

fn main() -> std::process::ExitCode {
    let args = bench_servers::args();
    let app = Router::new()
        .route("/bare", get(zero))
        .route("/read", get(zero))
        .route("/incr", get(zero));
    let result = bench_servers::runtime()
        .and_then(|rt| rt.block_on(bench_servers::serve_axum(args.listen, app)));
    bench_servers::exit_with("bare-axum", result)
}
