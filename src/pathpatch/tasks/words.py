"""The word lists of the tasks: first names with their grammatical gender, places and objects.

Every list is split into train, validation and test by :func:`~.text.split_items` (the same split
for every task and tokenizer), so a name seen in training never appears in a test prompt.
"""

from __future__ import annotations

__all__ = ["MALE_NAMES", "FEMALE_NAMES", "NAMES", "PLACES", "OBJECTS"]

MALE_NAMES = (
    "John", "James", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles",
    "Daniel", "Matthew", "Anthony", "Mark", "Paul", "Steven", "Andrew", "Kevin", "Brian", "George",
    "Edward", "Ryan", "Jacob", "Gary", "Eric", "Jonathan", "Stephen", "Larry", "Justin", "Scott",
    "Frank", "Brandon", "Gregory", "Samuel", "Patrick", "Alexander", "Jack", "Dennis", "Jerry", "Tyler",
    "Aaron", "Henry", "Adam", "Peter", "Nathan", "Zachary", "Kyle", "Walter", "Harold", "Carl",
    "Arthur", "Roger", "Keith", "Jeremy", "Terry", "Lawrence", "Sean", "Albert", "Joe", "Ethan",
    "Austin", "Jesse", "Willie", "Billy", "Bruce", "Ralph", "Roy", "Louis", "Philip", "Bobby",
)  # fmt: skip

FEMALE_NAMES = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah", "Karen",
    "Lisa", "Nancy", "Betty", "Sandra", "Margaret", "Ashley", "Kimberly", "Emily", "Donna", "Michelle",
    "Carol", "Amanda", "Melissa", "Deborah", "Stephanie", "Rebecca", "Laura", "Helen", "Sharon", "Cynthia",
    "Kathleen", "Amy", "Angela", "Anna", "Brenda", "Pamela", "Emma", "Nicole", "Samantha", "Katherine",
    "Christine", "Rachel", "Catherine", "Carolyn", "Janet", "Ruth", "Maria", "Heather", "Diane", "Julie",
    "Joyce", "Victoria", "Kelly", "Christina", "Lauren", "Joan", "Evelyn", "Olivia", "Judith", "Megan",
    "Cheryl", "Martha", "Andrea", "Frances", "Hannah", "Jacqueline", "Ann", "Gloria", "Jean", "Kathryn",
)  # fmt: skip

NAMES = MALE_NAMES + FEMALE_NAMES

PLACES = (
    "store", "park", "office", "school", "hospital", "garden", "station", "market", "library", "restaurant",
    "beach", "house", "river", "kitchen", "museum", "cafe", "church", "farm", "bank", "gym",
    "hotel", "airport", "theater", "lake", "shop", "zoo", "factory", "mall", "club", "bakery",
)  # fmt: skip

OBJECTS = (
    "drink", "book", "ring", "bone", "ball", "computer", "necklace", "letter", "gift", "key",
    "snack", "pen", "flower", "cake", "bag", "hat", "coin", "phone", "card", "map",
    "cup", "toy", "note", "box", "ticket", "pear", "shirt", "watch", "lamp", "basket",
)  # fmt: skip
