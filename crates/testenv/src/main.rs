//! `testenv`: starts the tests' local control plane (etcd + kube-apiserver) and keeps it up
//! until interrupted, for trying the operator and its docs by hand.
//!
//! ```sh
//! cargo run -p testenv
//! # prints: export KUBECONFIG=/tmp/classlink-testenv-XXXX/kubeconfig
//! ```

fn main() {
    let cp = testenv::ControlPlane::shared();
    println!("export KUBECONFIG={}", cp.kubeconfig().display());
    println!(
        "# API server {} is ready; Ctrl-C stops it and removes its data",
        cp.server()
    );
    loop {
        std::thread::park();
    }
}
