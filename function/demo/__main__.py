"""``python -m function.demo`` runs `function.demo.run.main`."""

from function.demo.run import main

main()
