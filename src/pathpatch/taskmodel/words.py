"""Training-only words for ``tasks-4l``: first names with their gender, and noun pairs.

None of these is a word of :mod:`pathpatch.tasks` (``tests/test_taskmodel.py`` checks it), so
they never touch a validation or test split. They exist to make the model learn a rule rather
than a list: with only the tasks' own 84 train names and 18 train nouns, a gender or a number can
be memorised word by word from the task examples, and a held-out word, whose gender or number
the model knows only from background sentences, is at chance. With several hundred names and
nouns whose gender or number the background sentences state, reading that background knowledge
is the cheaper solution, and it is the one that carries over to held-out words.
"""

from __future__ import annotations

__all__ = ["TRAIN_MALE", "TRAIN_FEMALE", "TRAIN_NOUNS"]

TRAIN_MALE = (
    "Adrian", "Alan", "Alfred", "Allen", "Andre", "Angelo", "Antonio", "Barry", "Ben", "Benjamin",
    "Bernard", "Brad", "Bradley", "Brett", "Caleb", "Calvin", "Chad", "Chester", "Chris", "Christian",
    "Christopher", "Clarence", "Clifford", "Clyde", "Colin", "Connor", "Craig", "Curtis", "Dale", "Dan",
    "Darren", "Dean", "Derek", "Don", "Donald", "Douglas", "Dylan", "Earl", "Eddie", "Edgar",
    "Edwin", "Elliot", "Eugene", "Evan", "Felix", "Fred", "Gabriel", "Gavin", "Gerald", "Gilbert",
    "Glenn", "Gordon", "Graham", "Grant", "Greg", "Harry", "Harvey", "Herbert", "Howard", "Hugh",
    "Ian", "Isaac", "Ivan", "Jake", "Jared", "Jason", "Jeff", "Jeffrey", "Jim", "Jimmy",
    "Joel", "Jose", "Joshua", "Juan", "Julian", "Karl", "Kenneth", "Kent", "Lance", "Leo",
    "Leon", "Leonard", "Lewis", "Lloyd", "Logan", "Lucas", "Luke", "Malcolm", "Marcus", "Martin",
    "Marvin", "Max", "Melvin", "Miles", "Mitchell", "Neil", "Nicholas", "Noah", "Norman", "Oliver",
    "Oscar", "Owen", "Perry", "Phil", "Raymond", "Rex", "Ricky", "Rick", "Rodney", "Ron",
    "Ronald", "Ross", "Russell", "Sam", "Seth", "Shane", "Simon", "Stanley", "Stuart", "Ted",
    "Theodore", "Tim", "Timothy", "Todd", "Tom", "Tony", "Travis", "Trevor", "Troy", "Vernon",
    "Victor", "Vincent", "Wade", "Wallace", "Warren", "Wayne", "Wesley", "Hector", "Omar", "Rafael",
)  # fmt: skip

TRAIN_FEMALE = (
    "Abigail", "Ada", "Agnes", "Alice", "Alicia", "Alison", "Alma", "Amber", "Anita", "Annie",
    "April", "Audrey", "Beatrice", "Belinda", "Bernice", "Beth", "Bonnie", "Brittany", "Caroline", "Cassandra",
    "Cecilia", "Charlotte", "Chloe", "Claire", "Clara", "Claudia", "Colleen", "Connie", "Constance", "Cora",
    "Daisy", "Dawn", "Debbie", "Delia", "Denise", "Dolores", "Dora", "Doris", "Dorothy", "Edith",
    "Edna", "Eileen", "Elaine", "Eleanor", "Elena", "Ella", "Ellen", "Eloise", "Elsie", "Erica",
    "Erin", "Esther", "Ethel", "Eva", "Faith", "Fiona", "Florence", "Gail", "Gemma", "Georgia",
    "Geraldine", "Grace", "Gwen", "Harriet", "Hazel", "Holly", "Ida", "Irene", "Iris", "Isabel",
    "Ivy", "Jane", "Janice", "Jasmine", "Jenny", "Joanna", "Josephine", "Judy", "Julia", "Juliet",
    "June", "Katie", "Kate", "Kristen", "Leah", "Lillian", "Lily", "Lois", "Lorraine", "Louise",
    "Lucy", "Lydia", "Mabel", "Madeline", "Marian", "Marilyn", "Marjorie", "Marsha", "Maureen", "Mildred",
    "Miriam", "Molly", "Monica", "Nadia", "Naomi", "Natalie", "Nora", "Norma", "Paula", "Pauline",
    "Peggy", "Penelope", "Phyllis", "Polly", "Priscilla", "Rita", "Roberta", "Rosa", "Rosemary", "Roxanne",
    "Sally", "Sophie", "Stella", "Sylvia", "Tara", "Teresa", "Tina", "Tracy", "Ursula", "Valerie",
    "Vera", "Veronica", "Violet", "Vivian", "Wanda", "Wendy", "Yvonne", "Zoe", "Lena", "Greta",
)  # fmt: skip

_NOUNS = (
    "apple", "arm", "bed", "bell", "bike", "boat", "bottle", "bowl", "brick", "bridge",
    "button", "cable", "camera", "candle", "cap", "carpet", "castle", "cloud", "coat", "cookie",
    "desk", "drum", "egg", "engine", "eye", "fan", "barn", "finger", "flag", "fork",
    "frog", "gate", "glove", "goat", "hall", "hammer", "hill", "horse", "island", "jacket",
    "kid", "ladder", "lion", "lock", "machine", "mirror", "monkey", "mountain", "nail", "nest",
    "nurse", "onion", "painter", "pencil", "picture", "pig", "pillow", "pipe", "plant", "plate",
    "pocket", "pot", "rabbit", "rock", "roof", "room", "rope", "sailor", "shoe", "singer",
    "snake", "sock", "soldier", "spoon", "star", "stone", "street", "tent", "tiger", "tool",
    "tower", "towel", "train", "truck", "village", "wall", "wheel", "wing", "worker", "writer",
    "player", "driver", "baker", "cousin", "neighbor", "parent", "lawyer", "officer", "pilot", "guard",
    "guest", "visitor", "customer", "cook", "judge", "mayor", "scientist", "artist", "dancer", "poet",
)  # fmt: skip

TRAIN_NOUNS: tuple[tuple[str, str], ...] = tuple((n, n + "s") for n in _NOUNS)
"""Singular/plural pairs, every plural the singular with an ``s``."""
