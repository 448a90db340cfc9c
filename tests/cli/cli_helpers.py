"""Options shared by the command's tests (imported as ``cli_helpers``)."""

#: a tiny Springs problem: 20 training simulations of 5 particles, 6 observed and 3 predicted steps
TINY = ["--data", "springs", "--data.num_graphs", "20", "--data.obs", "6", "--data.horizon", "3",
        "--batch_size", "8", "--hidden", "8", "--trainer.lr", "0.01", "--trainer.device", "cpu",
        "--threads", "1", "--no-progress"]
