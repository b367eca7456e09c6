from memorybench.cli import main

main()
