from sojourn.demoshop import main

main()
